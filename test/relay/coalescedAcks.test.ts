// The relay acknowledges the Msgs of one stored batch with one frame per link (Acks), and fans
// each Msg out from the bytes it arrived in, relabelled with its seq.
import { expect, it } from "vitest";
import WebSocket from "ws";
import { BUCKETS } from "../../src/wire/buckets.js";
import type { Envelope, EnvelopeOf } from "../../src/wire/envelope.js";
import { LINK_REVISION, LINK_REVISION_HEADER } from "../../src/wire/linkRevision.js";
import { mlsMessage } from "../transport/helpers.js";
import { eachStore, link, openedChannel, startRelay } from "./relayFixture.js";

const N = 64;

eachStore("relay: coalesced acks", (store) => {
  it("a burst of N messages is acknowledged in fewer than N frames: every id, dense seqs in send order", async () => {
    const relay = await startRelay({}, store);
    const pub = await link(relay, "alice");
    const { channel } = await openedChannel(pub);
    const sub = await link(relay, "bob");
    await sub.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n });
    const bodies = Array.from({ length: N }, (_, i) => mlsMessage(channel, 0n, 1, 100, i));
    // Sent back to back, so that they reach the relay within a few turns of its event loop.
    const answers = await Promise.all(bodies.map((body) => pub.request({ type: "Msg", id: 0n, body })));

    expect(answers).toEqual(bodies.map((_, i) => ({ type: "Ack", id: expect.any(BigInt), seq: BigInt(i + 1) })));
    expect(pub.ackFrames).toBeLessThan(N);
    expect(pub.frameSizes.every((s) => (BUCKETS as readonly number[]).includes(s))).toBe(true);
    await sub.waitFor((pushed) => pushed.filter((e) => e.type === "Msg").length === N);
    const delivered = sub.pushed.filter((e): e is EnvelopeOf<"Msg"> => e.type === "Msg");
    expect(delivered.map((e) => e.id)).toEqual(bodies.map((_, i) => BigInt(i + 1)));
    expect(delivered.map((e) => Buffer.from(e.body).toString("hex"))).toEqual(bodies.map((b) => Buffer.from(b).toString("hex")));
  });

  it("a link that reuses a request id, or sends id 0, still gets one valid ack per message", async () => {
    const relay = await startRelay({}, store);
    const pub = await link(relay, "alice");
    const { channel } = await openedChannel(pub);
    const ids = [5n, 5n, 0n, 6n];
    // One frame, so one batch at the relay: the reused id and id 0 meet the list of that batch.
    pub.sendPacked(ids.map((id, i): Envelope => ({ type: "Msg", id, body: mlsMessage(channel, 0n, 1, 100, i + 1) })));
    // Unawaited replies land in `pushed`; an Acks the link could not decode would throw instead.
    await pub.waitFor((pushed) => pushed.filter((e) => e.type === "Ack").length === 4);
    // The first 5 and the 6 share an Acks; the second 5 and the 0 get an Ack each (besides the opening's).
    expect([relay.metrics.framesOut.get("Acks"), relay.metrics.framesOut.get("Ack")]).toEqual([1, 3]);
    const acks = pub.pushed.filter((e): e is EnvelopeOf<"Ack"> => e.type === "Ack");
    expect(acks.map((e) => [e.id, e.seq] as const).sort((a, b) => Number(a[1] - b[1]))).toEqual([
      [5n, 1n],
      [5n, 2n],
      [0n, 3n],
      [6n, 4n],
    ]);
    expect(pub.closed).toBeUndefined();
  });

  it("announces its link revision in the WebSocket upgrade", async () => {
    const relay = await startRelay({}, store);
    const ws = new WebSocket(`${relay.url}/v1/link`, { headers: { [LINK_REVISION_HEADER]: String(LINK_REVISION) } });
    const announced = await new Promise<string | string[] | undefined>((resolve, reject) => {
      ws.once("upgrade", (res) => resolve(res.headers[LINK_REVISION_HEADER]));
      ws.once("error", reject);
    });
    ws.terminate();
    expect(announced).toBe(String(LINK_REVISION));
  });

  it("refuses a client that announces an older revision (one that would trust names): 426 with the reason", async () => {
    const relay = await startRelay({}, store);
    for (const revision of [undefined, "2"]) {
      const ws = new WebSocket(`${relay.url}/v1/link`, revision === undefined ? {} : { headers: { [LINK_REVISION_HEADER]: revision } });
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.once("unexpected-response", (_req, res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.once("open", () => reject(new Error("an older client was let in")));
        ws.once("error", () => undefined);
      });
      expect(answer).toEqual({ status: 426, body: expect.stringMatching(/upgrade skytale-mcp/) });
    }
  });
});
