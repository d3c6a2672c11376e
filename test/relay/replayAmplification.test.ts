// Issue 13, point 1: many Subscribe (or InboxSubscribe) requests in one link frame each had a
// replay read a whole batch into memory at once (32 Subscribes over a 16 MiB archive took the relay
// from 145 MiB to 668 MiB). Replays now stream: one batch per link at a time, bounded in bytes,
// within a relay-wide budget, each waiting for its link to drain. Asserted on the bytes the relay
// counts as read for replays and not yet out of its buffers, never on RSS or time.
import { describe, expect, it, vi } from "vitest";
import { ConfigError, DEFAULT_LIMITS, parseRelayConfig } from "../../src/relay/config.js";
import type { Relay } from "../../src/relay/relayServer.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { testKeyOf } from "../identity.js";
import { mlsMessage } from "../transport/helpers.js";
import { eachStore, link, openedChannel, startRelay } from "./relayFixture.js";
import type { TestLink } from "./testLink.js";

const FRAME = 8000;
const FRAMES = 192;
const BATCH = 64 * 1024;
const BUDGET = 192 * 1024;
/** Requests one abusive frame carries. */
const REQUESTS = 32;
/** A batch reads past its bytes by at most one item, and envelopes are a little larger than bodies. */
const ITEM = FRAME + 512;

// One sender fills the inbox here: its share of someone's inbox (maxInboxPerSender) is lifted.
const limits = { ...DEFAULT_LIMITS, replayBatchBytes: BATCH, maxReplayBytes: BUDGET, framesPerSecond: 100_000, maxInboxPerSender: DEFAULT_LIMITS.maxInboxItems };

/** An archive of FRAMES messages of FRAME bytes (1.5 MiB), sent 16 to a frame. */
async function archive(pub: TestLink): Promise<Uint8Array> {
  const { channel } = await openedChannel(pub);
  for (let at = 0; at < FRAMES; at += 16) {
    const bodies = Array.from({ length: 16 }, (_, i) => mlsMessage(channel, 0n, 1, FRAME, at + i));
    await Promise.all(pub.requestPacked(bodies.map((body): Envelope => ({ type: "Msg", id: 0n, body }))));
  }
  return channel;
}

/** The seqs of the frames `l` was pushed for `type`, in the order they came. */
const seqs = (l: TestLink, type: string) => l.pushed.filter((e) => e.type === type).map((e) => e.id);
const oneToN = (n: number) => Array.from({ length: n }, (_, i) => BigInt(i + 1));

async function expectBounded(relay: Relay): Promise<void> {
  // The last batch counts until it has drained out of the link's buffers.
  await vi.waitFor(() => expect(relay.replays.stats().heldBytes).toBe(0));
  const stats = relay.replays.stats();
  expect(stats.peakLinkBytes).toBeGreaterThan(0);
  expect(stats.peakLinkBytes).toBeLessThanOrEqual(BATCH + ITEM);
  expect(stats.peakBytes).toBeLessThanOrEqual(BUDGET + 4 * ITEM);
}

eachStore("relay: replays stream within a budget (issue 13, point 1)", (store) => {
  it(`${REQUESTS} Subscribes in one frame, from one link and then from four, hold one batch per link and the budget in all`, async () => {
    const relay = await startRelay({ limits }, store);
    const channel = await archive(await link(relay, "alice"));
    const bob = await link(relay, "bob");
    const subscribe = Array.from({ length: REQUESTS }, (): Envelope => ({ type: "Subscribe", id: 0n, channel, fromSeq: 1n }));
    await Promise.all(bob.requestPacked(subscribe));
    // Each Subscribe restarts the replay: the last one's goes out whole, every frame once, in order.
    await bob.waitFor(() => seqs(bob, "Msg").length >= FRAMES);
    expect(seqs(bob, "Msg")).toEqual(oneToN(FRAMES));
    await expectBounded(relay);

    const readers = await Promise.all(["carol", "dave", "erin", "frank"].map((name) => link(relay, name)));
    await Promise.all(readers.flatMap((r) => r.requestPacked(subscribe)));
    await Promise.all(readers.map((r) => r.waitFor(() => seqs(r, "Msg").length >= FRAMES)));
    for (const r of readers) expect(seqs(r, "Msg")).toEqual(oneToN(FRAMES));
    await expectBounded(relay);
  });

  it(`${REQUESTS} InboxSubscribes in one frame over a large inbox hold one batch`, async () => {
    const relay = await startRelay({ limits }, store);
    const alice = await link(relay, "alice");
    const items = 128;
    for (let at = 0; at < items; at += 16) {
      const sends = Array.from({ length: 16 }, (_, i): Envelope => ({
        type: "JoinReply",
        id: 0n,
        target: { kind: "agent", key: testKeyOf("bob") },
        from: new Uint8Array(0),
        payload: new Uint8Array(FRAME).fill(at + i),
      }));
      for (const answer of await Promise.all(alice.requestPacked(sends))) expect(answer.type).toBe("Ack");
    }
    const bob = await link(relay, "bob");
    await Promise.all(bob.requestPacked(Array.from({ length: REQUESTS }, (): Envelope => ({ type: "InboxSubscribe", id: 0n, fromSeq: 1n }))));
    await bob.waitFor(() => seqs(bob, "JoinReply").length >= items);
    expect(seqs(bob, "JoinReply")).toEqual(oneToN(items));
    await expectBounded(relay);
  });
});

describe("relay: the replay budget's flag", () => {
  it("--max-replay-mb sets the relay-wide budget (32 MiB by default, batches of 1 MiB) and refuses bad values", () => {
    const limitsOf = (...flags: string[]) => parseRelayConfig(["--data-dir", "/tmp/unused", ...flags], {}).limits;
    expect(limitsOf()).toMatchObject({ maxReplayBytes: 32 * 1024 * 1024, replayBatchBytes: 1024 * 1024, replayStallMs: 30_000 });
    expect(limitsOf("--max-replay-mb", "8").maxReplayBytes).toBe(8 * 1024 * 1024);
    for (const flags of [["--max-replay-mb", "0"], ["--max-replay-mb=-1"], ["--max-replay-mb", "lots"]]) expect(() => limitsOf(...flags)).toThrow(ConfigError);
  });
});
