// Taking an agent's key packages cannot lock it out of channels (issue 13, point 5): the agent
// publishes a last-resort key package, which the relay hands out (and keeps) once the single-use
// ones are gone and which survives a join, and it tops its single-use packages up again.
import { expect, it } from "vitest";
import { keyOfDidKey } from "../../src/mls/didKey.js";
import type { Relay } from "../../src/relay/relayServer.js";
import { eventually } from "../helpers.js";
import { TestLink } from "../relay/testLink.js";
import { agentConfig, introduce, openAgent, startRelay } from "./fixture.js";

/** Takes one of `owner`'s key packages from the relay's directory on mallory's link. */
function taker(relay: Relay, owner: Uint8Array) {
  const link = TestLink.connect(relay.url, relay.relayKey.publicKey, "mallory");
  return {
    take: async (): Promise<string | undefined> => {
      const reply = await (await link).request({ type: "KeyPackageFetch", id: 0n, key: owner });
      if (reply.type !== "KeyPackageReply") throw new Error(`refused: ${reply.type}`);
      return reply.keyPackage === undefined ? undefined : Buffer.from(reply.keyPackage).toString("hex");
    },
    close: async () => (await link).close(),
  };
}

it("mallory drains bob's directory; alice adds bob to two channels with his last-resort package, bob joins both, and tops his packages up", async () => {
  const relay = await startRelay();
  const alice = await openAgent(agentConfig(relay, "alice"));
  const bobConfig = agentConfig(relay, "bob");
  let bob = await openAgent(bobConfig);
  await introduce(alice, bob);
  const mallory = taker(relay, keyOfDidKey(bob.identity.did));
  try {
    // Once bob's packages are in (his last-resort one goes first), he leaves; mallory takes
    // everything she can: the single-use packages, then the last-resort one, again and again.
    let first: string | undefined;
    await eventually(async () => (first = await mallory.take()) !== undefined);
    await bob.close();
    const taken = [first];
    while (taken.length < 2 || taken.at(-1) !== taken.at(-2)) {
      taken.push(await mallory.take());
      expect(taken.length).toBeLessThan(12);
    }
    const lastResort = taken.at(-1)!;
    expect(lastResort).toBeDefined();

    for (const channel of ["acme/lr/one", "acme/lr/two"]) {
      await alice.createChannel(channel);
      await alice.addMember(channel, { agent: "bob" });
    }
    expect(await mallory.take()).toBe(lastResort); // kept by the relay through both adds

    bob = await openAgent(bobConfig);
    await eventually(async () => (await bob.channels()).length === 2);
    expect((await bob.channels()).map((c) => c.channel).sort()).toEqual(["acme/lr/one", "acme/lr/two"]);
    await alice.send("acme/lr/two", "both joins worked");
    const got = await bob.receive({ channel: "acme/lr/two", waitMs: 10_000 });
    expect(got.messages.map((m) => m.message)).toEqual(["both joins worked"]);

    // bob topped his single-use packages up: mallory gets new ones before the last-resort one.
    await eventually(async () => (await mallory.take()) !== lastResort);
  } finally {
    await mallory.close();
  }
});
