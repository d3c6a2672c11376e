// The slow-reader bound (maxBufferedBytes) holds within one turn: a replay larger than it is cut
// off once that much is written, instead of every frame of the turn being sealed and buffered first;
// and a link whose constant-cover queue overflows is dropped, not left with a hole in its stream.
import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import type { Relay } from "../../src/relay/relayServer.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { mlsMessage } from "../transport/helpers.js";
import { eachStore, link, startRelay } from "./relayFixture.js";

const LARGEST = BUCKETS[BUCKETS.length - 1] as number;
const BOUND = 128 * 1024;

function bytesOut(relay: Relay): number {
  let total = 0;
  for (const [key, n] of relay.metrics.linkFrames) if (key.startsWith("out ")) total += Number(key.slice(4)) * n;
  return total;
}

eachStore("relay: the slow-reader bound within one turn", (store) => {
  it("a replay of far more than maxBufferedBytes stops being sealed once the bound is passed", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, maxBufferedBytes: BOUND } }, store);
    const channel = new Uint8Array(randomBytes(12));
    const pub = await link(relay, "alice");
    // 2 MiB in the archive: 256 messages of 8 KiB, sent 16 at a time.
    for (let batch = 0; batch < 16; batch++) {
      const bodies = Array.from({ length: 16 }, (_, i) => mlsMessage(channel, 0n, 1, 8000, batch * 16 + i));
      await Promise.all(pub.requestPacked(bodies.map((body): Envelope => ({ type: "Msg", id: 0n, body }))));
    }
    const sub = await link(relay, "bob");
    const before = bytesOut(relay);
    sub.send({ type: "Subscribe", id: 1n, channel, fromSeq: 1n });
    expect((await sub.waitClosed()).code).toBe(1008);
    // What was written before the cut: the bound, plus the chunk that crossed it (a turn's pieces are
    // sealed in chunks of at most the bound) and its last frame's rounding up.
    expect(bytesOut(relay) - before).toBeLessThanOrEqual(2 * BOUND + 2 * LARGEST);
  });

  it("constant cover: a link whose queue of waiting envelopes fills up is dropped, not left with a hole", async () => {
    const relay = await startRelay({ cover: { mode: "constant", rate: 1 }, limits: { ...DEFAULT_LIMITS, framesPerSecond: 100_000 } }, store);
    const l = await link(relay, "alice");
    // One slot a second cannot carry the answers to 15,000 requests: past the scheduler's bound of
    // 10,000 waiting envelopes the link is closed (before, the rest were dropped without a word).
    l.sendPacked(Array.from({ length: 15_000 }, (_, i): Envelope => ({ type: "Ping", id: BigInt(i + 1) })));
    const closed = await l.waitClosed();
    expect([closed.code, closed.reason]).toEqual([1008, "too slow: reconnect and resume"]);
  });
});
