import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MlsError } from "../../src/mls/errors.js";
import { parseCredential } from "../../src/mls/identity.js";
import { decodeMessage } from "../../src/mls/messages.js";
import { ChannelStream, openAgent, text } from "../helpers.js";

const CHANNEL = "acme/sec/fuzz";
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Asserts that `fn` either succeeds or fails with a typed MlsError, never anything else. */
async function onlyTypedErrors(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof MlsError)) throw error;
  }
}

describe("bad input never crashes the process", () => {
  it("random and mutated bytes on every decode path", async () => {
    const alice = await openAgent("alice");
    const bob = await openAgent("bob");
    const stream = new ChannelStream(CHANNEL);
    await alice.mls.createChannel(CHANNEL);
    const kp = await bob.mls.createKeyPackage();
    const add = await alice.mls.addMembers(CHANNEL, [kp]);
    await stream.publish(add.commit, [alice]);
    await bob.mls.join(add.welcome!, 0);
    const valid = [await alice.mls.encrypt(CHANNEL, text("seed")), add.welcome!, kp, (await alice.mls.selfUpdate(CHANNEL)).commit];
    await alice.mls.discardCommit(CHANNEL);

    const mutated = fc.tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }))
      .map(([base, flips]) => {
        const out = base.slice();
        for (const [at, mask] of flips) out[at % out.length]! ^= mask;
        return out;
      });
    const truncated = fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([base, n]) => base.slice(0, n % base.length));
    const input = fc.oneof(fc.uint8Array({ maxLength: 2048 }), mutated, truncated);

    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        await onlyTypedErrors(async () => decodeMessage(bytes));
        await onlyTypedErrors(() => bob.mls.receive(CHANNEL, bytes));
        await onlyTypedErrors(() => bob.mls.join(bytes));
        await onlyTypedErrors(() => alice.mls.addMembers(CHANNEL, [bytes]).then(() => alice.mls.discardCommit(CHANNEL)));
        expect(() => parseCredential({ credentialType: "basic", identity: bytes })).not.toThrow();
      }),
      { numRuns: RUNS },
    );
    // and the group still works afterwards
    const after = await alice.mls.encrypt(CHANNEL, text("still fine"));
    expect((await bob.mls.receive(CHANNEL, after))[0]?.kind).toBe("application");
  });
});
