// A Subscribe the relay refuses for now (rate_limited, or internal: its storage failed for the
// batch) is asked again later, like any other request; only a refusal for good ends a follow. A
// refetch (StreamGuard, or the agent's bounded backlog) refused for now must not unfollow the
// channel or the inbox, or everything after it would be dropped without a word.
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import type { ChannelDelivery } from "../../src/transport/deliveries.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { DEFAULT_COVER } from "../../src/wire/cover.js";
import { startRelay } from "../relay/relayFixture.js";
import { channelId, cleanups, clientOf, mlsMessage, startFakeRelay, waitFor } from "./helpers.js";
import { testChannel, testIdentity } from "../identity.js";

/** A client of a fake relay, connected, recording the seqs of channel deliveries. */
async function connected(): Promise<{ r: Awaited<ReturnType<typeof startFakeRelay>>; c: ReturnType<typeof clientOf>; seqs: bigint[]; channel: Uint8Array }> {
  const r = await startFakeRelay();
  const c = clientOf(r);
  const seqs: bigint[] = [];
  c.on("channel", (d: ChannelDelivery) => seqs.push(d.seq));
  await c.connect();
  return { r, c, seqs, channel: channelId() };
}

describe("subscriptions refused for now", () => {
  it("a Subscribe refused with rate_limited is sent again and then delivers", async () => {
    const { r, c, seqs, channel } = await connected();
    r.inject(mlsMessage(channel, 0n, 1, 10, 1));
    r.refuseNext.push("rate_limited");
    expect(await c.subscribe(channel, 1n)).toBe(1n);
    await waitFor(() => seqs.length === 1);
    r.inject(mlsMessage(channel, 0n, 1, 10, 2));
    await waitFor(() => seqs.length === 2);
    expect(seqs).toEqual([1n, 2n]);
  });

  it("a channel refetch refused with internal keeps the channel followed and replays once asked again", async () => {
    const { r, c, seqs, channel } = await connected();
    r.inject(mlsMessage(channel, 0n, 1, 10, 1));
    await c.subscribe(channel, 1n);
    await waitFor(() => seqs.length === 1);
    r.refuseNext.push("internal");
    c.refetch(channel, 1n);
    await waitFor(() => seqs.length === 2);
    r.inject(mlsMessage(channel, 0n, 1, 10, 2));
    await waitFor(() => seqs.length === 3);
    expect(seqs).toEqual([1n, 1n, 2n]);
  });

  it("an inbox refetch refused with rate_limited is asked again and keeps the inbox followed", async () => {
    const r = await startFakeRelay();
    const c = clientOf(r);
    await c.connect();
    await c.subscribeInbox(1n);
    const asked = () => r.received.filter((e) => e.type === "InboxSubscribe").length;
    r.refuseNext.push("rate_limited");
    c.refetchInbox(1n);
    // The refused one, then the same asked again.
    await waitFor(() => asked() === 3);
    // Still followed: a new link subscribes the inbox again.
    r.terminateAll();
    await waitFor(() => asked() === 4);
  });

  it("the real relay: subscribes packed into one frame past the frames/s limit are all refused, then each asked again until followed", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, framesPerSecond: 20 } });
    const c = new RelayClient({ url: relay.url, agent: "alice", identity: testIdentity("alice"), relayKey: relay.relayKey.publicKey, cover: DEFAULT_COVER.off, backoff: { baseMs: 10, capMs: 50 } });
    cleanups.push(() => c.close());
    await c.connect();
    const opened = testChannel(testIdentity("alice"));
    await c.openChannel(opened.opening);
    const channels = [...Array.from({ length: 39 }, () => channelId()), opened.channel];
    // One turn: the 40 Subscribes share one frame, which needs 40 of the 20 tokens.
    expect(await Promise.all(channels.map((channel) => c.subscribe(channel, 1n)))).toEqual(channels.map(() => 0n));
    const last = channels.at(-1) as Uint8Array;
    const seqs: bigint[] = [];
    c.on("channel", (d: ChannelDelivery) => seqs.push(d.seq));
    expect(await c.sendMessage(mlsMessage(last, 0n, 1, 10, 1))).toBe(1n);
    await waitFor(() => seqs.length === 1);
  }, 20_000);
});
