// The slow-reader bound (maxBufferedBytes): a replay larger than it streams in batches, each read
// once the last has drained, so it never passes the bound; what one turn sends is sealed in chunks
// as it is handed over, and a paced link whose queue (bounded the same) overflows is dropped, not
// left with a hole in its stream.
import { expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { mlsMessage } from "../transport/helpers.js";
import { eachStore, link, openedChannel, startRelay } from "./relayFixture.js";

const LARGEST = BUCKETS[BUCKETS.length - 1] as number;
const BOUND = 128 * 1024;

eachStore("relay: the slow-reader bound", (store) => {
  it("a replay of far more than maxBufferedBytes streams to its reader in batches, without the link being dropped", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, maxBufferedBytes: BOUND } }, store);
    const pub = await link(relay, "alice");
    const { channel } = await openedChannel(pub);
    // 2 MiB in the archive: 256 messages of 8 KiB, sent 16 at a time.
    for (let batch = 0; batch < 16; batch++) {
      const bodies = Array.from({ length: 16 }, (_, i) => mlsMessage(channel, 0n, 1, 8000, batch * 16 + i));
      await Promise.all(pub.requestPacked(bodies.map((body): Envelope => ({ type: "Msg", id: 0n, body }))));
    }
    const sub = await link(relay, "bob");
    sub.send({ type: "Subscribe", id: 1n, channel, fromSeq: 1n });
    // Each batch (a quarter of the bound) is read once the one before has drained out of the link's
    // buffer: the replay never passes the slow-reader bound, and goes out whole, in order.
    await sub.waitFor((pushed) => pushed.filter((e) => e.type === "Msg").length >= 256);
    expect(sub.pushed.filter((e) => e.type === "Msg").map((e) => e.id)).toEqual(Array.from({ length: 256 }, (_, i) => BigInt(i + 1)));
    expect(sub.closed).toBeUndefined();
    expect(relay.replays.stats().peakLinkBytes).toBeLessThanOrEqual(BOUND / 4 + LARGEST);
  });

  it("paced cover: a link whose queue of waiting bytes passes maxBufferedBytes is dropped, not left with a hole", async () => {
    const relay = await startRelay({ cover: { mode: "constant", rate: 10 }, limits: { ...DEFAULT_LIMITS, framesPerSecond: 100_000, maxBufferedBytes: BOUND } }, store);
    const l = await link(relay, "alice");
    // Ten 1 KiB slots a second cannot carry the answers to 15,000 requests (180 KB of Pongs) at
    // once: past the bound the link is closed, as a reader whose socket backs up would be.
    l.sendPacked(Array.from({ length: 15_000 }, (_, i): Envelope => ({ type: "Ping", id: BigInt(i + 1) })));
    const closed = await l.waitClosed();
    expect([closed.code, closed.reason]).toEqual([1008, "too slow: reconnect and resume"]);
  });
});
