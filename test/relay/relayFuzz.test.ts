import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import { encodeEnvelope, RELAY_THROUGH_TYPES, type Envelope } from "../../src/wire/envelope.js";
import { groupOf, text } from "../helpers.js";
import { link, openAtRelay, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/fuzz";
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const id = fc.bigInt({ min: 1n, max: 2n ** 64n - 1n });
const small = fc.uint8Array({ maxLength: 200 });
const channel = fc.uint8Array({ minLength: 1, maxLength: 64 });
const agent = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const signature = fc.uint8Array({ minLength: 64, maxLength: 64 });
/** Well-formed envelopes of every client-side type, with random contents. */
const request: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({ type: fc.constant("Msg" as const), id, body: small }),
  fc.record({ type: fc.constant("GroupProposal" as const), id, body: small }),
  fc.record({ type: fc.constant("GroupCommit" as const), id, commit: small, welcome: fc.option(fc.record({ recipients: fc.array(key, { minLength: 1, maxLength: 3 }), welcome: small }), { nil: undefined }) }),
  fc.record({ type: fc.constant("Subscribe" as const), id, channel, fromSeq: id }),
  fc.record({ type: fc.constant("Unsubscribe" as const), id, channel }),
  fc.record({ type: fc.constant("InboxSubscribe" as const), id, fromSeq: id }),
  fc.record({ type: fc.constant("InboxAck" as const), id, upToSeq: id }),
  fc.record({ type: fc.constant("KeyPackagePublish" as const), id, lastResort: fc.boolean(), keyPackage: small }),
  fc.record({ type: fc.constant("KeyPackageFetch" as const), id, key }),
  fc.record({ type: fc.constant("NameLookup" as const), id, agent }),
  fc.record({ type: fc.constant("ChannelOpen" as const), id, channel, nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }), commitKey: key, signature }),
  fc.record({ type: fc.constantFrom(...RELAY_THROUGH_TYPES), id, target: fc.oneof(channel.map((c) => ({ kind: "channel" as const, channel: c })), key.map((k) => ({ kind: "agent" as const, key: k }))), from: fc.constant(new Uint8Array(0)), payload: small }),
  fc.record({ type: fc.constantFrom("Ack" as const), id, seq: id }),
  fc.record({ type: fc.constant("Auth" as const), id, agent, key, signature, token: fc.string({ maxLength: 20 }) }),
);

describe("relay under hostile input", () => {
  it("random requests, mutated envelopes and garbage frames: no crash, other clients unaffected, memory bounded", async () => {
    const [[alice], stream] = await groupOf(CHANNEL, "alice");
    const groupId = (await alice!.mls.channelInfo(CHANNEL)).groupId;
    // The fuzzer asks as fast as the relay answers; rate limiting is tested elsewhere.
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, framesPerSecond: 1_000_000 } });
    const good = await link(relay, "alice");
    await openAtRelay(good, stream);
    await good.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n });
    const heapBefore = process.memoryUsage().heapUsed;

    // Well-formed but random requests on one link: each is answered, none closes it.
    const fuzzer = await link(relay, "fuzzer");
    await fc.assert(
      fc.asyncProperty(request, async (e) => {
        const reply = await fuzzer.request(e, 60_000);
        expect(reply.type).toMatch(/^(Ack|Error|GroupAck|GroupNack|KeyPackageReply|NameReply)$/);
      }),
      { numRuns: RUNS },
    );
    // The same, several to a frame: each is answered, in a frame shared with others.
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 2, maxLength: 6 }), async (batch) => {
        const replies = await Promise.all(fuzzer.requestPacked(batch, 60_000));
        for (const reply of replies) expect(reply.type).toMatch(/^(Ack|Error|GroupAck|GroupNack|KeyPackageReply|NameReply)$/);
      }),
      { numRuns: Math.ceil(RUNS / 4) },
    );
    expect(fuzzer.closed).toBeUndefined();

    // Mutated encodings inside valid frames, and raw garbage: each closes only its own link.
    const valid = encodeEnvelope({ type: "Msg", id: 1n, body: await alice!.mls.encrypt(CHANNEL, text("x")) });
    const mutants = fc.sample(
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.nat({ max: valid.length })).map(([at, mask, cut]) => {
        const m = valid.slice(0, Math.max(cut, 1));
        m[at % m.length]! ^= mask;
        return m;
      }),
      200,
    );
    let closedLinks = 0;
    const ping = encodeEnvelope({ type: "Ping", id: 1n });
    for (const [i, m] of mutants.entries()) {
      const l = await link(relay, "mutant");
      // Half of them packed in one frame after a valid request.
      if (i % 2 === 0) l.sendPiece(m);
      else l.sendPieces([ping, m]);
      const reply = await Promise.race([l.waitClosed(2000).then(() => "closed"), new Promise((r) => setTimeout(() => r("open"), 30))]);
      if (reply === "closed") closedLinks++;
      l.close();
    }
    expect(closedLinks).toBeGreaterThan(0);

    const body = await alice!.mls.encrypt(CHANNEL, text("still served"));
    expect(await good.request({ type: "Msg", id: 0n, body })).toMatchObject({ type: "Ack" });
    await good.waitFor((p) => p.some((e) => e.type === "Msg"));
    await new Promise((r) => setTimeout(r, 100));
    expect(relay.metrics.connections).toBe(2); // good + fuzzer; every mutant link is gone
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(100 * 1024 * 1024);
  });

  it("cover frames flow to idle clients, and client cover frames never reach storage", async () => {
    const relay = await startRelay({ cover: { mode: "poisson", rate: 50 }, metrics: { host: "127.0.0.1", port: 0, secret: undefined } });
    const l = await link(relay, "idle");
    await new Promise((r) => setTimeout(r, 500));
    expect(l.covers).toBeGreaterThan(5);
    for (let i = 0; i < 20; i++) l.sendCover(512);
    await l.request({ type: "Ping", id: 0n });
    expect(relay.metrics.coverIn).toBe(20);
    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^skytale_relay_archive_bytes 0$/m);
    expect(metrics).not.toMatch(/cover|link_frames/);
  });
});
