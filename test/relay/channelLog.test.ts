// The ChannelLog seam, the same tests on both stores: the embedded SQLite archive and NATS
// JetStream (a real nats-server). Then what only a shared store has to show: two relay nodes
// (two logs on one set of streams) writing one channel at once.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppendResult, ChannelFrame, ChannelLog, ChannelWrite, HandshakeResult, InboxItem, MessageResult, WriteFailure } from "../../src/relay/channelLog.js";
import { MAX_KEY_PACKAGES } from "../../src/relay/channelLog.js";
import { NatsChannelLog } from "../../src/relay/jetstream/natsChannelLog.js";
import { StoreMetrics } from "../../src/relay/metrics.js";
import { SqliteChannelLog } from "../../src/relay/sqliteChannelLog.js";
import { encodeEnvelope } from "../../src/wire/envelope.js";
import { NatsServer } from "../fixtures/natsServer.js";
import { tempDir } from "../helpers.js";
import { STORES, type StoreKind } from "./relayFixture.js";

const body = (n: number, size = 10) => new Uint8Array(size).fill(n);
const envelopeOf = (b: Uint8Array) => encodeEnvelope({ type: "Msg", id: 0n, body: b });

let nats: NatsServer | undefined;
const opened: ChannelLog[] = [];
afterAll(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close().catch(() => undefined)));
});

/** A fresh store, or (with `place`) the one a previous open() of that place used. */
async function open(kind: StoreKind, place = kind === "sqlite" ? tempDir() : `T${randomBytes(6).toString("hex")}`): Promise<{ log: ChannelLog; place: string; frames: [Uint8Array, ChannelFrame][]; inbox: [string, InboxItem][] }> {
  const log =
    kind === "sqlite"
      ? new SqliteChannelLog(place)
      : await NatsChannelLog.open({ servers: [nats!.url], prefix: place, replicas: 1, credsFile: undefined }, { metrics: new StoreMetrics(), report: () => {} });
  opened.push(log);
  const frames: [Uint8Array, ChannelFrame][] = [];
  const inbox: [string, InboxItem][] = [];
  log.listen({ frames: (channel, fs) => fs.forEach((f) => frames.push([channel, f])), inbox: (p, item) => inbox.push([p, item]) });
  return { log, place, frames, inbox };
}

async function reopen(kind: StoreKind, log: ChannelLog, place: string) {
  await log.close();
  return open(kind, place);
}

/** A write without its `done` (each variant of the union). */
type Draft = ChannelWrite extends infer W ? (W extends ChannelWrite ? Omit<W, "done"> : never) : never;
/** What a write resolves with (an opening resolves with its OpenResult string, compared as such). */
type Result = MessageResult | AppendResult | HandshakeResult | WriteFailure;
const settleAll = (run: () => void) => run();

/** Writes and resolves with each write's result, in order. */
function write(log: ChannelLog, writes: Draft[]): Promise<Result[]> {
  return Promise.all(
    writes.map(
      (w) =>
        new Promise<Result>((resolve) => {
          log.write([{ ...w, done: resolve } as ChannelWrite], settleAll);
        }),
    ),
  );
}

/** One batch of writes in one call (a turn's worth). */
function batch(log: ChannelLog, writes: Draft[]): Promise<Result[]> {
  const results = writes.map(() => undefined as unknown as Promise<Result>);
  const full = writes.map((w, i) => {
    let resolve!: (r: Result) => void;
    results[i] = new Promise<Result>((r) => (resolve = r));
    return { ...w, done: (r: Result) => resolve(r) } as ChannelWrite;
  });
  log.write(full, settleAll);
  return Promise.all(results);
}

/** The commit key channels are opened with here. */
const K0 = body(0, 32);
/** A commit authorization the log accepts (the proofs themselves are tested in test/wire/commitProof.test.ts). */
const signed = { verify: () => true, nextKey: K0 };
const openOf = (channel: Uint8Array, from = "a", commitKey = K0): Draft => ({ op: "open", channel, from, commitKey });

/** A new channel, opened by "a" with commit key K0: the log accepts nothing on a channel before. */
async function openedChannelIn(log: ChannelLog): Promise<Uint8Array> {
  const c = new Uint8Array(randomBytes(12));
  expect(await write(log, [openOf(c)])).toEqual(["opened"]);
  return c;
}

const msg = (channel: Uint8Array, b: Uint8Array, epoch = 0n, from = "a"): Draft => ({ op: "message", channel, body: b, from, epoch, delivery: envelopeOf(b) });
const hs = (
  channel: Uint8Array,
  kind: "GroupProposal" | "GroupCommit",
  b: Uint8Array,
  epoch: bigint,
  extra: { welcome?: { recipients: string[]; envelope: () => Uint8Array; maxInboxItems: number }; authorization?: { verify: (k: Uint8Array) => boolean; nextKey: Uint8Array } } = {},
): Draft => ({
  op: "handshake",
  kind,
  channel,
  body: b,
  from: "a",
  epoch,
  delivery: encodeEnvelope(kind === "GroupCommit" ? { type: kind, id: 0n, commit: b, welcome: undefined } : { type: kind, id: 0n, body: b }),
  welcome: extra.welcome,
  authorization: "authorization" in extra ? extra.authorization : signed,
});

for (const kind of STORES) {
  describe(`ChannelLog (${kind})`, () => {
    if (kind === "jetstream") {
      beforeAll(async () => {
        nats ??= await NatsServer.single();
      });
    }
    const ch = () => openedChannelIn(openLog!);
    let openLog: ChannelLog | undefined;
    const openFor = async () => {
      const o = await open(kind);
      openLog = o.log;
      return o;
    };

    it("accepts nothing on a channel before it is opened, one opening only (its creator's retry answers the same), and no message ahead of the epoch", async () => {
      const { log } = await openFor();
      const c = new Uint8Array(randomBytes(12));
      const through: Draft = { op: "through", kind: "JoinRequest", channel: c, body: body(1), from: "a", delivery: envelopeOf(body(1)) };
      expect(await write(log, [msg(c, body(1)), through, hs(c, "GroupProposal", body(2), 0n)])).toEqual([{ kind: "unknown" }, { kind: "unknown" }, { kind: "unknown" }]);
      expect(await write(log, [openOf(c)])).toEqual(["opened"]);
      expect(await write(log, [openOf(c), openOf(c, "m")])).toEqual(["reopened", "taken"]);
      expect(await log.lastSeq(c)).toBe(0n);
      expect(await write(log, [msg(c, body(3), 1n)])).toEqual([{ kind: "ahead", epoch: 0n }]);
      expect(await write(log, [msg(c, body(4), 0n)])).toEqual([{ kind: "stored", seq: 1n, duplicate: false }]);
    });

    it("compare-and-set on the epoch: an opened channel is at epoch 0, commits advance it, anything else is stale, a retried winner gets its result", async () => {
      await openFor();
      const log = openLog!;
      const c = await ch();
      expect(await write(log, [hs(c, "GroupProposal", body(1), 5n)])).toEqual([{ kind: "stale", epoch: 0n, winningSeq: 0n }]);
      expect(await write(log, [hs(c, "GroupProposal", body(1), 0n)])).toMatchObject([{ kind: "accepted", seq: 1n, epoch: 0n }]);
      expect(await write(log, [hs(c, "GroupCommit", body(3), 0n)])).toEqual([{ kind: "accepted", seq: 2n, epoch: 1n, duplicate: false }]);
      expect(await write(log, [hs(c, "GroupCommit", body(4), 0n)])).toEqual([{ kind: "stale", epoch: 1n, winningSeq: 2n }]);
      expect(await write(log, [hs(c, "GroupCommit", body(3), 0n)])).toEqual([{ kind: "accepted", seq: 2n, epoch: 1n, duplicate: true }]);
    });

    it("names belong to the first principal that claims them, unless a token binds them", async () => {
      const { log } = await openFor();
      expect(await log.claimName("bob", "k1", false)).toBe(true);
      expect(await log.claimName("bob", "k1", false)).toBe(true);
      expect(await log.claimName("bob", "k2", false)).toBe(false);
      expect(await log.nameOwner("bob")).toBe("k1");
      expect(await log.claimName("bob", "k2", true)).toBe(true);
      expect(await log.nameOwner("bob")).toBe("k2");
      expect(await log.claimName("bob", "k1", false)).toBe(false);
      expect(await log.nameOwner("nobody")).toBeUndefined();
    });

    it("a winning commit's Welcome reaches every recipient's inbox once; a losing one's never", async () => {
      const { log, inbox } = await openFor();
      const c = await ch();
      const welcome = (recipients: string[], n: number) => ({ recipients, envelope: () => body(n), maxInboxItems: 10 });
      const [won, lost] = await batch(log, [hs(c, "GroupCommit", body(1), 0n, { welcome: welcome(["x", "y", "x"], 9) }), hs(c, "GroupCommit", body(2), 0n, { welcome: welcome(["z"], 8) })]);
      expect([won!.kind, lost!.kind]).toEqual(["accepted", "stale"]);
      await until(async () => (await log.readInbox("y", 1n, 10)).length === 1);
      expect(await log.readInbox("x", 1n, 10)).toEqual([{ seq: 1n, envelope: body(9) }]);
      expect(await log.readInbox("z", 1n, 10)).toEqual([]);
      await until(() => inbox.length === 2);
      expect(inbox.map(([p, item]) => [p, item.seq]).sort()).toEqual([["x", 1n], ["y", 1n]]);
    });

    it("a commit whose recipient's inbox is full is refused, nothing stored", async () => {
      const { log } = await openFor();
      const c = await ch();
      expect(await log.appendInbox("full", body(1), { maxItems: 1 })).toEqual({ kind: "stored", seq: 1n });
      expect(await log.appendInbox("full", body(2), { maxItems: 1 })).toEqual({ kind: "full" });
      expect(await write(log, [hs(c, "GroupCommit", body(3), 0n, { welcome: { recipients: ["ok", "full"], envelope: () => body(4), maxInboxItems: 1 } })])).toEqual([{ kind: "inbox_full", recipient: "full" }]);
      expect(await log.lastSeq(c)).toBe(0n);
    });

    it("commit keys: the first commit must be signed by the opening's key, later ones by the key the previous one named", async () => {
      const { log } = await openFor();
      const c = await ch();
      const [k1, k2] = [body(11, 32), body(12, 32)];
      const signedWith = (key: Uint8Array, next: Uint8Array) => ({ verify: (k: Uint8Array) => Buffer.from(k).equals(key), nextKey: next });
      expect(await write(log, [hs(c, "GroupCommit", body(1), 0n, { authorization: undefined })])).toEqual([{ kind: "unauthorized" }]);
      expect(await write(log, [hs(c, "GroupCommit", body(1), 0n, { authorization: signedWith(k1, k1) })])).toEqual([{ kind: "unauthorized" }]);
      expect(await write(log, [hs(c, "GroupCommit", body(1), 0n, { authorization: signedWith(K0, k1) })])).toMatchObject([{ kind: "accepted", epoch: 1n }]);
      expect(await write(log, [hs(c, "GroupCommit", body(2), 1n, { authorization: undefined })])).toEqual([{ kind: "unauthorized" }]);
      expect(await write(log, [hs(c, "GroupCommit", body(3), 1n, { authorization: signedWith(k2, k2) })])).toEqual([{ kind: "unauthorized" }]);
      expect(await write(log, [hs(c, "GroupCommit", body(4), 1n, { authorization: signedWith(k1, k2) })])).toMatchObject([{ kind: "accepted", seq: 2n, epoch: 2n }]);
    });

    it("dense seqs in batch order, retries and copies within a batch get the first seq, a message too old is refused", async () => {
      const { log } = await openFor();
      const c = await ch();
      const results = await batch(log, [msg(c, body(1)), msg(c, body(2)), msg(c, body(1)), hs(c, "GroupCommit", body(3), 0n), msg(c, body(4), 0n)]);
      expect(results).toEqual([
        { kind: "stored", seq: 1n, duplicate: false },
        { kind: "stored", seq: 2n, duplicate: false },
        { kind: "stored", seq: 1n, duplicate: true },
        { kind: "accepted", seq: 3n, epoch: 1n, duplicate: false },
        { kind: "stored", seq: 4n, duplicate: false },
      ]);
      for (const e of [1n, 2n]) await write(log, [hs(c, "GroupCommit", body(10 + Number(e)), e)]);
      expect(await write(log, [msg(c, body(20), 0n)])).toEqual([{ kind: "stale", epoch: 3n }]);
      expect(await write(log, [msg(c, body(2), 0n)])).toEqual([{ kind: "stored", seq: 2n, duplicate: true }]);
      expect((await log.read(c, 1n, 100)).map((f) => f.seq)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
      expect((await log.read(c, 4n, 2)).map((f) => [f.seq, f.kind])).toEqual([[4n, "Msg"], [5n, "GroupCommit"]]);
    });

    it("keeps the channel, its window and inboxes across a reopen", async () => {
      const first = await openFor();
      const c = await ch();
      await write(first.log, [msg(c, body(1)), hs(c, "GroupCommit", body(2), 0n)]);
      await first.log.appendInbox("p", body(7), { maxItems: 10 });
      const { log } = await reopen(kind, first.log, first.place);
      expect(await log.lastSeq(c)).toBe(2n);
      expect(await write(log, [msg(c, body(1))])).toEqual([{ kind: "stored", seq: 1n, duplicate: true }]);
      expect(await write(log, [hs(c, "GroupCommit", body(2), 0n)])).toEqual([{ kind: "accepted", seq: 2n, epoch: 1n, duplicate: true }]);
      expect(await write(log, [hs(c, "GroupCommit", body(3), 0n)])).toMatchObject([{ kind: "stale", epoch: 1n }]);
      expect(await write(log, [openOf(c)])).toEqual(["reopened"]);
      expect(await log.lastInboxSeq("p")).toBe(1n);
    });

    it("inboxes: dense seqs, acknowledged items go, the seqs go on after all are gone", async () => {
      const { log } = await openFor();
      for (let i = 1; i <= 3; i++) expect(await log.appendInbox("bob", body(i), { maxItems: 10 })).toEqual({ kind: "stored", seq: BigInt(i) });
      await log.ackInbox("bob", 2n);
      expect(await log.readInbox("bob", 1n, 10)).toEqual([{ seq: 3n, envelope: body(3) }]);
      await log.ackInbox("bob", 3n);
      expect(await log.readInbox("bob", 1n, 10)).toEqual([]);
      expect(await log.lastInboxSeq("bob")).toBe(3n);
      expect(await log.appendInbox("bob", body(4), { maxItems: 1 })).toEqual({ kind: "stored", seq: 4n });
      expect(await log.appendInbox("bob", body(5), { maxItems: 1 })).toEqual({ kind: "full" });
    });

    it("inboxes: one sender's items stop at its share; another sender's and a Welcome still go in (issue 13, point 5)", async () => {
      const { log } = await openFor();
      const c = await ch();
      const from = (principal: string) => ({ maxItems: 8, sender: { principal, maxItems: 3 } });
      const flood = [];
      for (let i = 1; i <= 5; i++) flood.push((await log.appendInbox("bob", body(i), from("mallory"))).kind);
      expect(flood).toEqual(["stored", "stored", "stored", "sender_full", "sender_full"]);
      expect(await log.appendInbox("bob", body(6), from("carol"))).toEqual({ kind: "stored", seq: 4n });
      // A Welcome is bounded by the whole inbox only.
      expect(await write(log, [hs(c, "GroupCommit", body(7), 0n, { welcome: { recipients: ["bob"], envelope: () => body(8), maxInboxItems: 10 } })])).toMatchObject([{ kind: "accepted" }]);
      await until(async () => (await log.readInbox("bob", 1n, 10)).length === 5);
      expect((await log.readInbox("bob", 5n, 10)).map((i) => i.envelope)).toEqual([body(8)]);
      // Once bob has read some of mallory's items, she may send that many again.
      await log.ackInbox("bob", 2n);
      expect(await log.appendInbox("bob", body(9), from("mallory"))).toEqual({ kind: "stored", seq: 6n });
      expect(await log.appendInbox("bob", body(10), from("mallory"))).toEqual({ kind: "stored", seq: 7n });
      expect(await log.appendInbox("bob", body(11), from("mallory"))).toEqual({ kind: "sender_full" });
    });

    it("key packages: single use oldest first, at most the limit, one last-resort package kept", async () => {
      const { log } = await openFor();
      const held = [];
      for (const [n, lastResort] of [[1, false], [2, false], [8, true], [9, true]] as const) held.push(await log.publishKeyPackage("alice", body(n), lastResort));
      // Each publish says how many single-use packages the principal has now.
      expect(held).toEqual([1, 2, 2, 2].map((n) => ({ kind: "stored", held: n })));
      const taken = [];
      for (let i = 0; i < 4; i++) taken.push((await log.takeKeyPackage("alice"))?.[0]);
      expect(taken).toEqual([1, 2, 9, 9]);
      for (let i = 0; i < MAX_KEY_PACKAGES; i++) await log.publishKeyPackage("carol", body(i % 200), false);
      expect(await log.publishKeyPackage("carol", body(1), false)).toEqual({ kind: "full" });
      expect(await log.publishKeyPackage("carol", body(1), true)).toEqual({ kind: "stored", held: MAX_KEY_PACKAGES });
      expect(await log.takeKeyPackage("nobody")).toBeUndefined();
    });

    it("retention: a channel pruned empty goes on from its last seq with its epoch; a size cap keeps the newest frames", async () => {
      const { log, place } = await openFor();
      const [c, d] = [await ch(), await ch()];
      await write(log, [msg(c, body(1)), msg(c, body(2)), hs(c, "GroupCommit", body(3), 0n)]);
      for (let i = 0; i < 10; i++) await write(log, [msg(d, body(i, 100))]);
      expect(await log.prune(Date.now() + 60_000, 1000, 1 << 30)).toBe(13);
      expect(await log.read(c, 1n, 10)).toEqual([]);
      expect(await write(log, [msg(c, body(4), 1n)])).toEqual([{ kind: "stored", seq: 4n, duplicate: false }]);
      for (let i = 10; i < 20; i++) await write(log, [msg(d, body(i, 100))]);
      await log.prune(Date.now(), 3_600_000, 350);
      const kept = (await log.read(d, 1n, 100)).map((f) => Number(f.seq));
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.length).toBeLessThan(4);
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 20 - kept.length + 1 + i));
      const again = await reopen(kind, log, place);
      expect(await write(again.log, [hs(c, "GroupCommit", body(5), 0n)])).toMatchObject([{ kind: "stale", epoch: 1n }]);
      expect(await again.log.lastSeq(c)).toBe(4n);
    });
  });
}

describe("ChannelLog on JetStream: two relay nodes on one store", () => {
  beforeAll(async () => {
    nats ??= await NatsServer.single();
  });

  it("write one channel at once: dense seqs, nothing twice, every frame reaches the other node's listener in order", async () => {
    const place = `T${randomBytes(6).toString("hex")}`;
    const [a, b] = [await open("jetstream", place), await open("jetstream", place)];
    const c = await openedChannelIn(a.log);
    await Promise.all([a.log.watch(c), b.log.watch(c)]);
    const sends = (log: ChannelLog, tag: number) => Promise.all(Array.from({ length: 10 }, (_, turn) => batch(log, Array.from({ length: 20 }, (_, i) => msg(c, body(tag, 4).map((x, j) => (j === 0 ? x : j === 1 ? turn : j === 2 ? i : 0)))))));
    const [ra, rb] = await Promise.all([sends(a.log, 1), sends(b.log, 2)]);
    const seqs = [...ra.flat(), ...rb.flat()].map((r) => (r.kind === "stored" ? r.seq : -1n));
    expect(new Set(seqs).size).toBe(400);
    expect([...seqs].sort((x, y) => Number(x - y))).toEqual(Array.from({ length: 400 }, (_, i) => BigInt(i + 1)));
    // Each node's listener hears exactly the other node's frames, in seq order.
    await until(() => a.frames.length === 200 && b.frames.length === 200);
    for (const [node, own] of [[a, ra], [b, rb]] as const) {
      const heard = node.frames.map(([, f]) => f.seq);
      expect(heard).toEqual([...heard].sort((x, y) => Number(x - y)));
      const mine = new Set(own.flat().map((r) => (r as { seq: bigint }).seq));
      expect(heard.some((s) => mine.has(s))).toBe(false);
    }
    expect((await a.log.read(c, 1n, 1000)).map((f) => f.seq)).toEqual(Array.from({ length: 400 }, (_, i) => BigInt(i + 1)));
  });

  it("a node that has not heard of an opening or a commit yet reads the chain's end before it refuses", async () => {
    const place = `T${randomBytes(6).toString("hex")}`;
    const [a, b] = [await open("jetstream", place), await open("jetstream", place)];
    const c = new Uint8Array(randomBytes(12));
    expect(await write(b.log, [msg(c, body(1))])).toEqual([{ kind: "unknown" }]);
    expect(await write(a.log, [openOf(c)])).toEqual(["opened"]);
    expect(await write(b.log, [msg(c, body(2))])).toEqual([{ kind: "stored", seq: 1n, duplicate: false }]);
    expect(await write(a.log, [hs(c, "GroupCommit", body(3), 0n)])).toMatchObject([{ kind: "accepted", seq: 2n, epoch: 1n }]);
    expect(await write(b.log, [msg(c, body(4), 1n)])).toEqual([{ kind: "stored", seq: 3n, duplicate: false }]);
  });

  it("one commit wins an epoch across nodes; a retry on the other node gets the winner's answer", async () => {
    const place = `T${randomBytes(6).toString("hex")}`;
    const [a, b] = [await open("jetstream", place), await open("jetstream", place)];
    const c = await openedChannelIn(a.log);
    for (let round = 0n; round < 10n; round++) {
      const [x, y] = await Promise.all([write(a.log, [hs(c, "GroupCommit", body(Number(round) * 2 + 1), round)]), write(b.log, [hs(c, "GroupCommit", body(Number(round) * 2 + 2), round)])]);
      const kinds = [x[0]!.kind, y[0]!.kind].sort();
      expect(kinds).toEqual(["accepted", "stale"]);
      const winner = x[0]!.kind === "accepted" ? Number(round) * 2 + 1 : Number(round) * 2 + 2;
      const retried = await write(x[0]!.kind === "accepted" ? b.log : a.log, [hs(c, "GroupCommit", body(winner), round)]);
      expect(retried).toMatchObject([{ kind: "accepted", epoch: round + 1n, duplicate: true }]);
    }
  });
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
