import { describe, expect, it } from "vitest";
import { decodeText, encodeText, isUserText } from "../../src/agent/messageCodec.js";
import { SENT_TIME_CAPABILITY } from "../../src/mls/capabilities.js";
import { CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION } from "../../src/mls/keyPackages.js";
import { PACKED_MARKER, PACKED_PAYLOADS_CAPABILITY } from "../../src/mls/packedPayloads.js";
import { BUCKETS, WIRE_OVERHEAD } from "../../src/wire/buckets.js";
import { ChannelStream, groupOf, keyPackageAdvertising, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/clocks";
const T = Date.UTC(2030, 0, 1);

/** A payload as the agent makes it: timed where every member reads sent times. */
const timed = (text: string) => (everyLeafHas: (capability: number) => boolean) => encodeText(text, everyLeafHas(SENT_TIME_CAPABILITY) ? T : undefined);

const keyPackageBeforeSentTimes = (name: string) => keyPackageAdvertising(name, [CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION, PACKED_PAYLOADS_CAPABILITY]);

/** What the receivers read of a message published in the channel's order. */
async function published(stream: ChannelStream, bytes: Uint8Array, receivers: TestAgent[]) {
  const outcomes = await stream.publish(bytes, receivers);
  return outcomes.flatMap((o) => (o.kind === "application" ? o.payloads.map(decodeText) : []));
}

describe("payloads chosen by what every member reads", () => {
  it("texts carry the sender's time while every leaf reads it, and not once a leaf from an older release is in; padded to a bucket either way", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const first = await alice!.mls.encrypt(CHANNEL, timed("x".repeat(77)));
    expect(first.length + WIRE_OVERHEAD).toBe(256); // a timed text of up to 77 bytes takes the smallest bucket
    expect(await published(stream, first, [bob!])).toEqual([{ text: "x".repeat(77), sentAt: T }]);

    const add = await alice!.mls.addMembers(CHANNEL, [await keyPackageBeforeSentTimes("olde")]);
    await stream.publish(add.commit, [alice!, bob!]);
    const packed = await Promise.all(["a", "b"].map((t) => alice!.mls.seal(CHANNEL, timed(t))));
    expect(new Set(packed).size).toBe(1); // still packed: olde reads packed messages
    expect(BUCKETS as readonly number[]).toContain(packed[0]!.bytes.length + WIRE_OVERHEAD);
    expect(await published(stream, packed[0]!.bytes, [bob!])).toEqual([
      { text: "a", sentAt: undefined },
      { text: "b", sentAt: undefined },
    ]);
  });

  it("a chosen payload that begins with the packed marker is refused, alone", async () => {
    const [[alice]] = await groupOf(CHANNEL, "alice", "bob");
    const [bad, good] = await Promise.allSettled([alice!.mls.seal(CHANNEL, () => new Uint8Array([PACKED_MARKER, 1])), alice!.mls.seal(CHANNEL, timed("fine"))]);
    expect(bad).toMatchObject({ status: "rejected", reason: { code: "bad_request" } });
    expect(good.status).toBe("fulfilled");
  });
});

describe("the timed text kind", () => {
  it("reads its text and time; an absurd time reads as absent, a text too short for its time is no user text", () => {
    expect(decodeText(encodeText("hi", T))).toEqual({ text: "hi", sentAt: T });
    expect(decodeText(encodeText("hi"))).toEqual({ text: "hi", sentAt: undefined });
    const far = encodeText("far", 0);
    new DataView(far.buffer).setBigUint64(1, 2n ** 64n - 1n);
    expect(decodeText(far)).toEqual({ text: "far", sentAt: undefined });
    const short = new Uint8Array([2, 0, 0, 0]);
    expect(isUserText(short)).toBe(false);
    expect(decodeText(short)).toBeUndefined();
    expect(decodeText(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 1, 0xc3]))).toBeUndefined(); // not UTF-8
  });
});
