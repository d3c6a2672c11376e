import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { paddedContentLength, privateMessageSize } from "../../src/mls/padding.js";
import { BUCKETS, bucketFor, ENVELOPE_HEADER_BYTES, FRAGMENT_PAYLOAD_BYTES, LINK_FRAME_OVERHEAD, WIRE_OVERHEAD } from "../../src/wire/buckets.js";
import { COMMIT_ENVELOPE_EXTRA_BYTES, encodeEnvelope } from "../../src/wire/envelope.js";
import { ChannelStream, openAgent, text, untext } from "../helpers.js";

const CHANNEL = "acme/wire/padding";
const fillsFrames = (mlsBytes: number) =>
  (BUCKETS as readonly number[]).includes(mlsBytes + WIRE_OVERHEAD) || (mlsBytes + ENVELOPE_HEADER_BYTES) % FRAGMENT_PAYLOAD_BYTES === 0;

describe("bucket padding inside MLS", () => {
  it("every content length pads to a size that fills frames exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 200_000 }), (groupIdBytes, content) => {
        const padded = paddedContentLength(groupIdBytes, content);
        expect(padded).toBeGreaterThanOrEqual(content);
        expect(fillsFrames(privateMessageSize(groupIdBytes, padded))).toBe(true);
        const commit = paddedContentLength(groupIdBytes, content, COMMIT_ENVELOPE_EXTRA_BYTES);
        expect(commit).toBeGreaterThanOrEqual(content);
        expect(fillsFrames(privateMessageSize(groupIdBytes, commit) + COMMIT_ENVELOPE_EXTRA_BYTES)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it("real messages of every bucket have exact sizes and still decrypt", async () => {
    const alice = await openAgent("alice");
    const bob = await openAgent("bob");
    const stream = new ChannelStream(CHANNEL);
    await alice.mls.createChannel(CHANNEL);
    const add = await alice.mls.addMembers(CHANNEL, [await bob.mls.createKeyPackage()]);
    expect(fillsFrames(add.commit.length + COMMIT_ENVELOPE_EXTRA_BYTES)).toBe(true);
    await stream.publish(add.commit, [alice]);
    await bob.mls.join(add.welcome!, 0);
    const update = await bob.mls.selfUpdate(CHANNEL);
    const sent = encodeEnvelope({ type: "GroupCommit", id: 1n, commit: update.commit, welcome: undefined, proof: update.proof });
    const delivered = encodeEnvelope({ type: "GroupCommit", id: 2n, commit: update.commit, welcome: undefined });
    // Both ways the commit fills one frame exactly (the relay's copy, without the proof, is smaller).
    expect(BUCKETS as readonly number[]).toContain(sent.length + LINK_FRAME_OVERHEAD);
    expect(bucketFor(delivered.length + LINK_FRAME_OVERHEAD)).toBe(sent.length + LINK_FRAME_OVERHEAD);
    await stream.publish(update.commit, [bob, alice]);

    // Up to the largest a member accepts (MAX_PAYLOAD_BYTES): several fragments' worth.
    const sizes = [0, 1, 50, 86, 87, 100, 200, 500, 1000, 1024, 3000, 8000, 16000, 30000, 40000, 65_000];
    const seen = new Map<number, number>();
    for (const size of sizes) {
      const body = "x".repeat(size);
      const bytes = await alice.mls.encrypt(CHANNEL, text(body));
      expect(fillsFrames(bytes.length)).toBe(true);
      seen.set(size, bytes.length + WIRE_OVERHEAD);
      const [o] = await stream.publish(bytes, [bob]);
      expect(o?.kind === "application" && untext(o.payloads[0]!)).toBe(body);
    }
    // Small agent messages, up to 86 bytes, take the smallest bucket.
    expect(seen.get(86)).toBe(256);
    expect(seen.get(87)).toBe(512);
    expect(seen.get(1000)).toBe(2048);
  });
});
