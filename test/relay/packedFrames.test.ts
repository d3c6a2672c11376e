// Several envelopes per link frame at a real relay: what one turn sends shares frames both ways,
// order and seqs are kept, and the frames/s limit counts envelopes, not frames.
import { expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import type { Envelope, EnvelopeOf } from "../../src/wire/envelope.js";
import { mlsMessage } from "../transport/helpers.js";
import { eachStore, link, openedChannel, startRelay } from "./relayFixture.js";

const N = 40;
const isBucket = (s: number) => (BUCKETS as readonly number[]).includes(s);

eachStore("relay: packed frames", (store) => {
  it("a burst of N small messages sent packed reaches a subscriber in fewer than N frames, in order, with dense seqs", async () => {
    const relay = await startRelay({}, store);
    const pub = await link(relay, "alice");
    const { channel } = await openedChannel(pub);
    const sub = await link(relay, "bob");
    await sub.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n });
    const framesBefore = sub.realFrames;
    const bodies = Array.from({ length: N }, (_, i) => mlsMessage(channel, 0n, 1, 100, i));
    const answers = await Promise.all(pub.requestPacked(bodies.map((body): Envelope => ({ type: "Msg", id: 0n, body }))));

    expect(answers).toEqual(bodies.map((_, i) => ({ type: "Ack", id: expect.any(BigInt), seq: BigInt(i + 1) })));
    await sub.waitFor((pushed) => pushed.filter((e) => e.type === "Msg").length === N);
    const delivered = sub.pushed.filter((e): e is EnvelopeOf<"Msg"> => e.type === "Msg");
    expect(delivered.map((e) => e.id)).toEqual(bodies.map((_, i) => BigInt(i + 1)));
    expect(delivered.map((e) => Buffer.from(e.body).toString("hex"))).toEqual(bodies.map((b) => Buffer.from(b).toString("hex")));
    expect(sub.realFrames - framesBefore).toBeLessThan(N);
    expect([...sub.frameSizes, ...pub.frameSizes].every(isBucket)).toBe(true);
    // The relay's metrics count envelopes by type and link frames by size: fewer frames than envelopes.
    expect([relay.metrics.framesIn.get("Msg"), relay.metrics.framesOut.get("Msg")]).toEqual([N, N]);
    const framesIn = [...relay.metrics.linkFrames].filter(([k]) => k.startsWith("in ")).reduce((sum, [, n]) => sum + n, 0);
    expect(framesIn).toBeLessThan(N);
  });

  it("constant cover: a slot carries every queued envelope that fits one frame", async () => {
    const relay = await startRelay({ cover: { mode: "constant", rate: 50 } }, store);
    const pub = await link(relay, "alice");
    const { channel } = await openedChannel(pub);
    const sub = await link(relay, "bob");
    await sub.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n });
    const framesBefore = sub.realFrames;
    const bodies = Array.from({ length: 20 }, (_, i) => mlsMessage(channel, 0n, 1, 100, i));
    await Promise.all(pub.requestPacked(bodies.map((body): Envelope => ({ type: "Msg", id: 0n, body }))));
    await sub.waitFor((pushed) => pushed.filter((e) => e.type === "Msg").length === bodies.length);
    expect(sub.pushed.filter((e) => e.type === "Msg").map((e) => e.id)).toEqual(bodies.map((_, i) => BigInt(i + 1)));
    // Queued for slots, they went out packed: far fewer slots than messages.
    expect(sub.realFrames - framesBefore).toBeLessThan(bodies.length / 2);
    expect(sub.frameSizes.every(isBucket)).toBe(true);
    pub.close();
    sub.close();
  });

  it("the frames/s limit counts every envelope of a packed frame", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, framesPerSecond: 10 } }, store);
    const l = await link(relay, "alice");
    // 20 requests in one frame need 20 tokens; fewer than 10 are left after Auth: all are refused.
    const refused = await Promise.all(l.requestPacked(Array.from({ length: 20 }, (): Envelope => ({ type: "Ping", id: 0n }))));
    expect(refused.map((e) => e.type === "Error" && e.code)).toEqual(Array(20).fill("rate_limited"));
    // Three in one frame fit what is left.
    const served = await Promise.all(l.requestPacked(Array.from({ length: 3 }, (): Envelope => ({ type: "Ping", id: 0n }))));
    expect(served.map((e) => e.type)).toEqual(["Pong", "Pong", "Pong"]);
    expect(l.closed).toBeUndefined();
  });

  it("a frame packed with requests over the limit draws at most 100 refusals, then the link is closed", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, framesPerSecond: 10 } }, store);
    const l = await link(relay, "alice");
    l.sendPacked(Array.from({ length: 1_000 }, (_, i): Envelope => ({ type: "Ping", id: BigInt(i + 1) })));
    await l.waitFor(() => l.closed !== undefined);
    expect(l.closed?.code).toBe(1008);
    const refusals = l.pushed.filter((e) => e.type === "Error" && e.code === "rate_limited").length;
    expect(refusals).toBeGreaterThan(0);
    expect(refusals).toBeLessThanOrEqual(100);
  });
});
