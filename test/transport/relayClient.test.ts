import { describe, expect, it } from "vitest";
import type { ChannelDelivery, InboxDelivery } from "../../src/transport/deliveries.js";
import { TransportError } from "../../src/transport/errors.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";
import { FakeRelay } from "./fakeRelay.js";
import { channelId, clientOf, mlsMessage, startFakeRelay, waitFor } from "./helpers.js";
import { testIdentity, testKeyOf } from "../identity.js";

const relay = startFakeRelay;
const client = clientOf;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("connecting", () => {
  it("handshakes and authenticates with the agent id and token", async () => {
    const r = await relay({ token: "s3cret" });
    const c = client(r, { token: "s3cret" });
    const states: string[] = [];
    c.on("state", (change) => states.push(change.state));
    await c.connect();
    expect(c.state).toBe("connected");
    expect(states).toEqual(["connecting", "connected"]);
    expect(r.received[0]).toMatchObject({ type: "Auth", agent: "alice", token: "s3cret" });
    expect(r.received[0]?.id).not.toBe(0n);
    expect(r.keyFetches).toBe(0);
  });

  it("surfaces a refused token as auth_failed and does not retry", async () => {
    const r = await relay({ token: "s3cret" });
    const c = client(r, { token: "wrong" });
    const errors: TransportError[] = [];
    c.on("error", (e) => errors.push(e));
    const failure = await c.connect().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: "auth_failed", relayCode: "auth_failed" });
    expect(errors.map((e) => e.code)).toEqual(["auth_failed"]);
    expect(c.state).toBe("failed");
    await sleep(200);
    expect(r.connections).toBe(1);
    await expect(c.sendMessage(mlsMessage(channelId(), 0n, 1))).rejects.toMatchObject({ code: "auth_failed" });
  });

  it("refuses a relay that does not hold the pinned key, loudly and once", async () => {
    const r = await relay();
    const c = client(r, { relayKey: generateStaticKeyPair().publicKey });
    const failure = await c.connect().catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "relay_key_mismatch" });
    expect((failure as Error).message).toContain("SKYTALE_RELAY_KEY");
    await sleep(200);
    expect(r.connections).toBe(1);
    expect(c.state).toBe("failed");
  });

  it("rejects bad configuration at construction", () => {
    const base = { url: "ws://127.0.0.1:1", agent: "alice", identity: testIdentity("alice"), relayKey: new Uint8Array(32) };
    expect(() => new RelayClient({ ...base, url: "http://127.0.0.1:1" })).toThrow(expect.objectContaining({ code: "bad_config" }));
    expect(() => new RelayClient({ ...base, url: "ws://user:pw@127.0.0.1:1" })).toThrow(expect.objectContaining({ code: "bad_config" }));
    expect(() => new RelayClient({ ...base, agent: "not an id" })).toThrow(expect.objectContaining({ code: "bad_config" }));
    expect(() => new RelayClient({ ...base, relayKey: undefined })).toThrow(expect.objectContaining({ code: "bad_config" }));
    expect(() => new RelayClient({ ...base, cover: { mode: "poisson", rate: 5000 } })).toThrow(expect.objectContaining({ code: "bad_config" }));
  });
});

describe("requests", () => {
  it("matches every reply to its request", async () => {
    const r = await relay();
    const c = client(r);
    await c.connect();
    const channel = channelId();
    const bodies = Array.from({ length: 20 }, (_, i) => mlsMessage(channel, 0n, 1, 40, i));
    const [seqs, missing, published, pong, forwarded] = await Promise.all([
      Promise.all(bodies.map((b) => c.sendMessage(b))),
      c.fetchKeyPackage(testKeyOf("bob")),
      c.publishKeyPackage(new Uint8Array([1, 2, 3])),
      c.ping(),
      c.forward("JoinRequest", { kind: "agent", key: testKeyOf("bob") }, new Uint8Array([9])),
    ]);
    // This stand-in relay answers a publish with seq 0, as relays before the count did: none held.
    expect([missing, published, pong, forwarded]).toEqual([undefined, 0, undefined, 1n]);
    const archive = r.archive(channel);
    seqs.forEach((seq, i) => expect(archive[Number(seq) - 1]).toMatchObject({ type: "Msg", body: bodies[i] }));
    expect(await c.fetchKeyPackage(testKeyOf("alice"))).toEqual(new Uint8Array([1, 2, 3]));
    const ids = r.received.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain(0n);
  });

  it("one commit wins per epoch: ack for the winner, nack with the winning seq for the rest", async () => {
    const r = await relay();
    const c = client(r);
    await c.connect();
    const channel = channelId();
    const winner = mlsMessage(channel, 0n, 3, 50, 1);
    const loser = mlsMessage(channel, 0n, 3, 50, 2);
    expect(await c.sendCommit(winner, { recipients: [testKeyOf("bob")], welcome: new Uint8Array([7]) })).toEqual({
      kind: "ack",
      channel,
      epoch: 1n,
      seq: 1n,
    });
    expect(await c.sendCommit(loser)).toEqual({ kind: "nack", channel, epoch: 1n, winningSeq: 1n });
    expect(await c.sendCommit(winner)).toMatchObject({ kind: "ack", epoch: 1n, seq: 1n });
    expect(await c.sendProposal(mlsMessage(channel, 1n, 2))).toMatchObject({ kind: "ack", epoch: 1n, seq: 2n });
    expect(await c.sendProposal(mlsMessage(channel, 0n, 2))).toMatchObject({ kind: "nack", epoch: 1n, winningSeq: 1n });
  });

  it("refuses what cannot be encoded without storing it", async () => {
    const r = await relay();
    const c = client(r);
    await expect(c.sendMessage(new Uint8Array(2 << 20))).rejects.toMatchObject({ code: "invalid" });
    await expect(c.subscribe(new Uint8Array(0), 1n)).rejects.toMatchObject({ code: "invalid" });
  });

  it("bounds the requests waiting for an answer", async () => {
    const r = await relay();
    const c = client(r, { maxPending: 2 });
    const waiting = [c.sendMessage(mlsMessage(channelId(), 0n, 1)), c.ping()];
    await expect(c.ping()).rejects.toMatchObject({ code: "busy" });
    await c.close();
    await expect(Promise.all(waiting)).rejects.toMatchObject({ code: "closed" });
  });
});

describe("deliveries", () => {
  it("delivers channel frames and inbox items with their seqs", async () => {
    const r = await relay();
    const alice = client(r);
    const bob = client(r, { agent: "bob" });
    const channelFrames: ChannelDelivery[] = [];
    const inbox: InboxDelivery[] = [];
    alice.on("channel", (d) => channelFrames.push(d));
    alice.on("inbox", (d) => inbox.push(d));
    await Promise.all([alice.connect(), bob.connect()]);
    const channel = channelId();
    expect(await alice.subscribe(channel, 1n)).toBe(0n);
    expect(await alice.subscribeInbox(1n)).toBe(0n);
    await bob.sendCommit(mlsMessage(channel, 0n, 3), { recipients: [testKeyOf("alice")], welcome: new Uint8Array([5]) });
    await bob.sendMessage(mlsMessage(channel, 1n, 1));
    await bob.forward("DiscoveryRequest", { kind: "channel", channel }, new Uint8Array([1]));
    await bob.forward("JoinReply", { kind: "agent", key: testKeyOf("alice") }, new Uint8Array([2]));
    await waitFor(() => channelFrames.length === 3 && inbox.length === 2);
    expect(channelFrames.map((d) => [d.seq, d.envelope.type])).toEqual([
      [1n, "GroupCommit"],
      [2n, "Msg"],
      [3n, "DiscoveryRequest"],
    ]);
    expect(channelFrames.every((d) => Buffer.from(d.channel).equals(channel))).toBe(true);
    expect(channelFrames[2]?.envelope).toMatchObject({ from: testKeyOf("bob") });
    expect(inbox.map((d) => [d.seq, d.envelope.type])).toEqual([
      [1n, "GroupWelcome"],
      [2n, "JoinReply"],
    ]);
    await alice.ackInbox(2n);
  });

  it("never delivers a seq twice on one connection", async () => {
    const r = await relay();
    const c = client(r);
    const seqs: bigint[] = [];
    c.on("channel", (d) => seqs.push(d.seq));
    await c.connect();
    const channel = channelId();
    r.inject(mlsMessage(channel, 0n, 1, 10, 1));
    r.inject(mlsMessage(channel, 0n, 1, 10, 2));
    await c.subscribe(channel, 1n);
    await c.subscribe(channel, 1n);
    r.inject(mlsMessage(channel, 0n, 1, 10, 3));
    await waitFor(() => seqs.includes(3n));
    await c.ping();
    expect(seqs).toEqual([1n, 2n, 3n]);
  });

  it("a listener that throws is reported, and the link carries on", async () => {
    const r = await relay();
    const c = client(r);
    const errors: string[] = [];
    c.on("error", (e) => errors.push(e.code));
    c.on("channel", () => {
      throw new Error("listener bug");
    });
    await c.connect();
    const channel = channelId();
    await c.subscribe(channel, 1n);
    await c.sendMessage(mlsMessage(channel, 0n, 1));
    await waitFor(() => errors.length === 1);
    expect(errors).toEqual(["listener_failed"]);
    await c.ping();
    expect(c.state).toBe("connected");
  });
});

describe("on the wire", () => {
  it.each([
    ["off", { mode: "off", rate: 0 }],
    ["paced in 32 KiB cells", { mode: "poisson", rate: 100, cell: 32768 }],
  ] as const)("carries a 100 KB message both ways, every frame a bucket size (cover %s)", async (_, cover) => {
    const r = await relay();
    const c = client(r, { cover });
    const received: ChannelDelivery[] = [];
    c.on("channel", (d) => received.push(d));
    await c.connect();
    const channel = channelId();
    await c.subscribe(channel, 1n);
    const big = mlsMessage(channel, 0n, 1, 100_000, 7);
    expect(await c.sendMessage(big)).toBe(1n);
    const archived = r.archive(channel)[0];
    expect(archived?.type === "Msg" && Buffer.from(archived.body).equals(big)).toBe(true);
    await waitFor(() => received.length === 1);
    const delivered = received[0]?.envelope;
    expect(delivered?.type === "Msg" && Buffer.from(delivered.body).equals(big)).toBe(true);
    if (cover.mode === "off") {
      // 100,010 envelope bytes: three full 32768-byte fragments and a last one in a smaller bucket.
      expect(r.frameSizes.filter((s) => s === 32768)).toHaveLength(3);
      expect(r.frameSizes.every((s) => (BUCKETS as readonly number[]).includes(s))).toBe(true);
    } else {
      // Paced: the byte stream in cells, every frame the cell's size whatever it carries.
      expect(r.frameSizes.length).toBeGreaterThanOrEqual(4);
      expect(r.frameSizes.every((s) => s === 32768)).toBe(true);
    }
  });
});

describe("closing", () => {
  it("close() leaves no sockets or timers behind", async () => {
    const handles = () => {
      const all = process.getActiveResourcesInfo();
      return { sockets: all.filter((t) => t.startsWith("TCP")).length, timers: all.filter((t) => t === "Timeout").length };
    };
    await waitFor(() => handles().sockets === 0);
    const before = handles();
    const r = await FakeRelay.start();
    const c = new RelayClient({ url: r.url, agent: "alice", identity: testIdentity("alice"), relayKey: r.key.publicKey, cover: { mode: "poisson", rate: 20 } });
    await c.connect();
    const channel = channelId();
    await c.subscribe(channel, 1n);
    await c.sendMessage(mlsMessage(channel, 0n, 1));
    const unreachable = new RelayClient({ url: "ws://127.0.0.1:9", agent: "alice", identity: testIdentity("alice"), relayKey: r.key.publicKey });
    const attempt = unreachable.connect().catch((e: unknown) => e);
    await sleep(50);
    await Promise.all([c.close(), unreachable.close()]);
    expect(await attempt).toMatchObject({ code: "closed" });
    expect(c.state).toBe("closed");
    await r.close();
    await waitFor(() => handles().sockets === 0, 1000);
    expect(handles().timers).toBeLessThanOrEqual(before.timers);
  });
});
