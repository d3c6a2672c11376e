import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SqliteOutbox } from "../../src/store/outbox.js";
import { MemoryOutbox } from "../../src/transport/outbox.js";
import { testKeyOf } from "../identity.js";
import { FakeRelay } from "./fakeRelay.js";
import { channelId, cleanups, clientOf, ManualTimers, mlsMessage, tempDir, waitFor, startFakeRelay } from "./helpers.js";

const relay = startFakeRelay;
const client = clientOf;
const msgs = (r: FakeRelay) => r.received.filter((e) => e.type === "Msg").length;

describe("durable outbox", () => {
  it("a dropped link loses nothing: every message reaches the relay once, in order, and every caller gets its seq", async () => {
    const r = await relay();
    const outbox = new MemoryOutbox();
    const c = client(r, { outbox });
    await c.connect();
    const channel = channelId();
    const bodies = Array.from({ length: 13 }, (_, i) => mlsMessage(channel, 0n, 1, 30, i));

    r.silent = true;
    const first = bodies.slice(0, 10).map((b) => c.sendMessage(b));
    await waitFor(() => msgs(r) === 10);
    expect(outbox.list()).toHaveLength(10);
    // Handed over while the link is down: they wait in the outbox behind the first ten.
    const later = new Promise<Promise<bigint>[]>((resolve) => {
      const off = c.on("state", ({ state }) => {
        if (state !== "waiting") return;
        off();
        resolve(bodies.slice(10).map((b) => c.sendMessage(b)));
      });
    });
    r.terminateAll();
    r.silent = false;

    const seqs = await Promise.all([...first, ...(await later)]);
    expect(seqs).toEqual(bodies.map((_, i) => BigInt(i + 1)));
    expect(r.archive(channel).map((e) => (e.type === "Msg" ? e.body : undefined))).toEqual(bodies);
    expect(r.connections).toBe(2);
    expect(outbox.list()).toEqual([]);
  });

  it("a timed-out request stays in the outbox and is delivered after the next reconnect", async () => {
    const r = await relay();
    const outbox = new MemoryOutbox();
    const c = client(r, { outbox, requestTimeoutMs: 100 });
    await c.connect();
    const body = mlsMessage(channelId(), 0n, 1);
    r.silent = true;
    await expect(c.sendMessage(body)).rejects.toMatchObject({ code: "timeout" });
    expect(outbox.list()).toHaveLength(1);
    r.silent = false;
    r.terminateAll();
    await waitFor(() => outbox.list().length === 0);
    expect(r.connections).toBe(2);
  });

  it("the answer to a request whose caller stopped waiting is still reported, refusal or not", async () => {
    const r = await relay();
    const c = client(r, { outbox: new MemoryOutbox(), requestTimeoutMs: 100 });
    const late: { body: Uint8Array | undefined; relayCode: string | undefined; refused: boolean }[] = [];
    c.on("answeredLate", ({ request, error }) => late.push({ body: request.type === "Msg" ? request.body : undefined, relayCode: error?.relayCode, refused: error !== undefined }));
    await c.connect();
    const [refused, accepted] = [mlsMessage(channelId(), 0n, 1), mlsMessage(channelId(), 0n, 1)];
    r.silent = true;
    await expect(c.sendMessage(refused)).rejects.toMatchObject({ code: "timeout" });
    await expect(c.sendMessage(accepted)).rejects.toMatchObject({ code: "timeout" });
    r.silent = false;
    r.refuseNext.push("stale_epoch");
    r.terminateAll();
    await waitFor(() => late.length === 2);
    expect(late).toEqual([
      { body: refused, relayCode: "stale_epoch", refused: true },
      { body: accepted, relayCode: undefined, refused: false },
    ]);
  });

  it("requests made before the relay is reachable go out once it is", async () => {
    const r = await relay();
    const c = client(r, { backoff: { baseMs: 10, capMs: 20 } });
    const channel = channelId();
    const sent = c.sendMessage(mlsMessage(channel, 0n, 1));
    const fetched = c.fetchKeyPackage(testKeyOf("bob"));
    await c.connect();
    expect(await sent).toBe(1n);
    expect(await fetched).toBeUndefined();
  });

  it("a SQLite outbox carries unanswered requests across a restart", async () => {
    const r = await relay();
    const path = join(tempDir(), "skytale.db");
    const channel = channelId();
    const bodies = [1, 2, 3].map((i) => mlsMessage(channel, 0n, 1, 20, i));

    const firstOutbox = new SqliteOutbox(path);
    const first = client(r, { outbox: firstOutbox });
    await first.connect();
    r.silent = true;
    const pending = bodies.map((b) => first.sendMessage(b).catch((e: unknown) => e));
    await waitFor(() => msgs(r) === 3);
    await first.close();
    expect(await Promise.all(pending)).toEqual(bodies.map(() => expect.objectContaining({ code: "closed" })));
    firstOutbox.close();
    r.silent = false;

    const secondOutbox = new SqliteOutbox(path);
    cleanups.push(() => secondOutbox.close());
    expect(secondOutbox.list()).toHaveLength(3);
    const second = client(r, { outbox: secondOutbox });
    await second.connect();
    await waitFor(() => secondOutbox.list().length === 0);
    expect(r.archive(channel).map((e) => (e.type === "Msg" ? e.body : undefined))).toEqual(bodies);
  });
});

describe("resuming subscriptions", () => {
  it("resubscribes every channel and the inbox from the caller's cursor after a reconnect", async () => {
    const r = await relay();
    const channel = channelId();
    const seen: bigint[] = [];
    let inboxSeen = 0n;
    const c = client(r, { cursor: () => (seen.at(-1) ?? 0n) + 1n, inboxCursor: () => inboxSeen + 1n });
    c.on("channel", (d) => seen.push(d.seq));
    c.on("inbox", (d) => (inboxSeen = d.seq));
    await c.connect();
    await c.subscribe(channel, 1n);
    await c.subscribeInbox(1n);
    for (const i of [1, 2, 3]) r.inject(mlsMessage(channel, 0n, 1, 10, i));
    await waitFor(() => seen.length === 3);

    const down = new Promise<void>((resolve) => c.on("state", ({ state }) => state === "waiting" && resolve()));
    r.terminateAll();
    await down;
    for (const i of [4, 5]) r.inject(mlsMessage(channel, 0n, 1, 10, i));
    const bob = client(r, { agent: "bob" });
    await bob.connect();
    await bob.forward("JoinReply", { kind: "agent", key: testKeyOf("alice") }, new Uint8Array([1]));
    await c.connect();
    await waitFor(() => seen.length === 5 && inboxSeen === 1n);

    expect(seen).toEqual([1n, 2n, 3n, 4n, 5n]);
    const subscribes = r.received.filter((e) => e.type === "Subscribe" || e.type === "InboxSubscribe");
    expect(subscribes.map((e) => [e.type, "fromSeq" in e ? e.fromSeq : undefined])).toEqual([
      ["Subscribe", 1n],
      ["InboxSubscribe", 1n],
      ["Subscribe", 4n],
      ["InboxSubscribe", 1n],
    ]);
  });

  it("without a cursor callback, resumes after the last frame it delivered", async () => {
    const r = await relay();
    const channel = channelId();
    const seen: bigint[] = [];
    const c = client(r);
    c.on("channel", (d) => seen.push(d.seq));
    await c.connect();
    await c.subscribe(channel, 1n);
    r.inject(mlsMessage(channel, 0n, 1, 10, 1));
    await waitFor(() => seen.length === 1);
    r.terminateAll();
    await waitFor(() => r.received.filter((e) => e.type === "Subscribe").length === 2);
    expect(r.received.filter((e) => e.type === "Subscribe").at(-1)).toMatchObject({ fromSeq: 2n });
  });

  it("frames of an unsubscribed channel are not delivered", async () => {
    const r = await relay();
    const channel = channelId();
    const seen: bigint[] = [];
    const c = client(r);
    c.on("channel", (d) => seen.push(d.seq));
    await c.connect();
    await c.subscribe(channel, 1n);
    c.unsubscribe(channel);
    r.inject(mlsMessage(channel, 0n, 1));
    await c.ping();
    expect(seen).toEqual([]);
  });
});

describe("relay errors and liveness", () => {
  it("retries a request the relay refused for now (rate_limited), and drops one it refused for good", async () => {
    const r = await relay();
    const outbox = new MemoryOutbox();
    const c = client(r, { outbox });
    await c.connect();
    const channel = channelId();
    r.refuseNext.push("rate_limited", "internal");
    expect(await c.sendMessage(mlsMessage(channel, 0n, 1, 10, 1))).toBe(1n);
    expect(r.received.filter((e) => e.type === "Msg")).toHaveLength(3);
    r.refuseNext.push("bad_request");
    await expect(c.sendMessage(mlsMessage(channel, 0n, 1, 10, 2))).rejects.toMatchObject({ code: "rejected", relayCode: "bad_request" });
    expect(outbox.list()).toEqual([]);
    expect(c.state).toBe("connected");
  });

  it("pings a silent relay and drops the link when it stays silent, then reconnects", async () => {
    const r = await relay();
    const timers = new ManualTimers();
    const c = client(r, { timers, now: () => timers.now, random: () => 0.5, pingIntervalMs: 1000 });
    await c.connect();
    r.silent = true;
    timers.advance(1000);
    await waitFor(() => r.received.some((e) => e.type === "Ping"));
    const down = new Promise<void>((resolve) => c.on("state", ({ state, reason }) => state === "waiting" && reason?.code === "timeout" && resolve()));
    timers.advance(1000);
    await down;
    r.silent = false;
    timers.advance(10);
    await waitFor(() => c.state === "connected");
    expect(r.connections).toBe(2);
  });
});
