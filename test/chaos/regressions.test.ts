// Bugs the chaos run found, each pinned by a small deterministic scenario on a real relay.
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Agent, type AgentConfig } from "../../src/agent/agent.js";
import { MlsAgent } from "../../src/mls/mlsAgent.js";
import { Relay } from "../../src/relay/relayServer.js";
import { AgentStore } from "../../src/store/agentStore.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { SqliteChannelLog } from "../../src/relay/sqliteChannelLog.js";
import { afterThisTest, agentConfig, introduce, openAgent, seqOf, startRelay } from "../agent/fixture.js";
import { mountTmpfs, tmpfsAvailable } from "../fixtures/tmpfs.js";
import { tempDir } from "../helpers.js";

const CHANNEL = "acme/chaos/regressions";
function configFor(relay: Relay, name: string, url = relay.url): AgentConfig {
  return agentConfig(relay, name, { relayUrl: url });
}

async function eventually(check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A channel made by the first agent with the others added through the directory, all joined. */
async function channelOf(creator: Agent, ...others: Agent[]): Promise<void> {
  await creator.createChannel(CHANNEL);
  for (const other of others) {
    await introduce(creator, other);
    await eventually(async () => creator.addMember(CHANNEL, { agent: other.identity.name }).then(() => true, () => false));
    await eventually(async () => (await other.channels()).some((c) => c.channel === CHANNEL));
  }
}

async function receiveAll(agent: Agent, count: number): Promise<string[]> {
  const texts: string[] = [];
  await eventually(async () => {
    texts.push(...(await agent.receive({ channel: CHANNEL, waitMs: 200, maxMessages: 1000 })).messages.map((m) => m.message));
    return texts.length >= count;
  });
  return texts;
}

/** alice and bob in a channel, bob reaching the relay through a proxy the test can block, his log kept. */
async function bobBehindProxy(sendTimeoutMs = 30_000, extra: Partial<AgentConfig> = {}) {
  const relay = await startRelay();
  const proxy = await proxyTo(Number(new URL(relay.url).port));
  const alice = await openAgent(configFor(relay, "alice"));
  const bobLog: string[] = [];
  const log = (line: string) => {
    bobLog.push(line);
    extra.log?.(line);
  };
  const bobConfig = { ...configFor(relay, "bob", proxy.url), ...extra, sendTimeoutMs, log };
  const bob = await openAgent(bobConfig);
  await channelOf(alice, bob);
  return { alice, bob, bobConfig, bobLog, proxy };
}

/**
 * A TCP forwarder in front of the relay that can cut one agent off while the relay stays up, or
 * (mute) pass what the agent sends while dropping what comes back: the relay acts, its ack is lost.
 */
async function proxyTo(port: number): Promise<{ url: string; block(): void; unblock(): void; mute(): void; server: Server }> {
  const sockets = new Set<Socket>();
  let blocked = false;
  let muted = false;
  const server = createServer((client) => {
    if (blocked) return client.destroy();
    const upstream = connect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!muted) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  afterThisTest(() => new Promise<void>((r) => server.close(() => r())));
  const { port: own } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${own}`,
    server,
    block() {
      blocked = true;
      sockets.forEach((s) => s.destroy());
      sockets.clear();
    },
    unblock() {
      blocked = false;
      muted = false;
    },
    mute() {
      muted = true;
    },
  };
}

describe("found by the chaos run", () => {
  it("a member's own commit takes effect at its place in the relay's order, not when the ack arrives", async () => {
    // alice is offline while carol sends, then removes carol at once on restart: her stream is
    // still replaying carol's messages when the ack comes. Applied on the ack, the removal made
    // those messages "from a removed member" and they were dropped.
    const relay = await startRelay();
    const aliceConfig = configFor(relay, "alice");
    let alice = await openAgent(aliceConfig);
    const bob = await openAgent(configFor(relay, "bob"));
    const carol = await openAgent(configFor(relay, "carol"));
    await channelOf(alice, bob, carol);
    await alice.close();
    for (let i = 0; i < 40; i++) await carol.send(CHANNEL, `c${i}`);
    alice = await openAgent(aliceConfig);
    await alice.removeMember(CHANNEL, "carol");
    const texts = await receiveAll(alice, 40);
    expect(texts).toEqual(Array.from({ length: 40 }, (_, i) => `c${i}`));
  });

  it("a message that reaches the relay after the channel moved on past the keys members keep is sent again", async () => {
    // bob's message waits in his outbox while he is cut off and alice rotates three times; once
    // ordered after those commits nobody can read it, so bob's send() re-encrypts it.
    const { alice, bob, bobLog, proxy } = await bobBehindProxy();
    proxy.block();
    const sent = bob.send(CHANNEL, "late");
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    await sent;
    // The relay refused the frame (stale_epoch) rather than archive what no member can read.
    expect(bobLog.some((line) => line.includes("refused as too old for its members to read"))).toBe(true);
    expect(await receiveAll(alice, 1)).toEqual(["late"]);
    expect((await alice.receive({ channel: CHANNEL, waitMs: 500 })).messages).toEqual([]);
    await eventually(async () => (await bob.members(CHANNEL)).epoch === (await alice.members(CHANNEL)).epoch);
  });

  it("a packed message refused as too old is sent again: every send in it arrives once, in order", async () => {
    const { alice, bob, bobLog, proxy } = await bobBehindProxy();
    proxy.block();
    const texts = Array.from({ length: 6 }, (_, i) => `late${i}`);
    const sent = Promise.all(texts.map((t) => bob.send(CHANNEL, t)));
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    const seqs = (await sent).map(seqOf);
    expect(bobLog.filter((line) => line.includes("refused as too old for its members to read")).length).toBeGreaterThanOrEqual(texts.length);
    expect(new Set(seqs).size).toBeLessThan(texts.length);
    expect(await receiveAll(alice, texts.length)).toEqual(texts);
    expect((await alice.receive({ channel: CHANNEL, waitMs: 500 })).messages).toEqual([]);
  });

  it("a packed message whose sends timed out waits in the outbox and arrives once after a restart", async () => {
    const { alice, bob: first, bobConfig, proxy } = await bobBehindProxy(300);
    let bob = first;
    proxy.block();
    const texts = Array.from({ length: 5 }, (_, i) => `queued${i}`);
    const outcomes = await Promise.all(texts.map((t) => bob.send(CHANNEL, t)));
    expect(outcomes.map((o) => o.status)).toEqual(texts.map(() => "queued"));
    await bob.close();
    proxy.unblock();
    bob = await openAgent(bobConfig);
    const got: { message: string; seq: number | undefined }[] = [];
    await eventually(async () => {
      got.push(...(await alice.receive({ channel: CHANNEL, waitMs: 200 })).messages);
      return got.length >= texts.length;
    });
    expect(got.map((m) => m.message)).toEqual(texts);
    expect(new Set(got.map((m) => m.seq)).size).toBeLessThan(texts.length);
    expect((await alice.receive({ channel: CHANNEL, waitMs: 500 })).messages).toEqual([]);
  });

  it("a send answered 'queued' that the relay later refuses as too old is encrypted again and arrives", async () => {
    const { alice, bob, proxy } = await bobBehindProxy(300);
    proxy.block();
    expect(await bob.send(CHANNEL, "queued, then too old")).toMatchObject({ status: "queued" });
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    expect(await receiveAll(alice, 1)).toEqual(["queued, then too old"]);
    expect((await alice.receive({ channel: CHANNEL, waitMs: 500 })).messages).toEqual([]);
  });

  it("a queued message whose text no longer fits the kept ones is reported on the channel when refused as too old, not dropped in silence", async () => {
    // Only one text is kept: "first" makes room for "second". Its caller stopped waiting while
    // the relay client still did, so the refusal came back to the send, not as answeredLate.
    const { alice, bob, proxy } = await bobBehindProxy(300, { maxOrphaned: 1 });
    proxy.block();
    expect(await bob.send(CHANNEL, "first")).toMatchObject({ status: "queued" });
    expect(await bob.send(CHANNEL, "second")).toMatchObject({ status: "queued" });
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    expect(await receiveAll(alice, 1)).toEqual(["second"]);
    expect(await firstWarnings(bob, 5_000)).toEqual(["message_not_delivered"]);
  });

  it.skipIf(!tmpfsAvailable)("a queued message refused as too old that cannot be encrypted again (disk full) is reported on the channel, not dropped in silence", async () => {
    // The caller heard "queued" long ago; when the send again fails for good, only the log knew.
    const disk = mountTmpfs(2048);
    afterThisTest(() => disk.unmount());
    const fillOnRefusal = (line: string) => {
      if (line.includes("refused as too old for its members to read; encrypting it again")) disk.fill();
    };
    const { alice, bob, proxy } = await bobBehindProxy(300, { dataDir: join(disk.dir, "bob"), log: fillOnRefusal });
    proxy.block();
    expect(await bob.send(CHANNEL, "queued, then no room")).toMatchObject({ status: "queued" });
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    expect(await firstWarnings(bob, 5_000)).toEqual(["message_not_delivered"]);
  });

  it("a send the relay client could not take in (its request queue full) is not called queued, and only the queued ones arrive", async () => {
    const { alice, bob, proxy } = await bobBehindProxy(300, { maxPendingRequests: 8 });
    proxy.block();
    const answers: { text: string; message: string }[] = [];
    for (let i = 0; i < 12 && !answers.some((a) => !a.message.includes("queued")); i++) {
      const text = `m${i}`;
      await bob.send(CHANNEL, text).then(
        (r) => answers.push({ text, message: r.status === "queued" ? `queued: ${r.reason}` : "sent" }),
        (error: { code?: string; message: string }) => answers.push({ text, message: `${error.code}: ${error.message}` }),
      );
    }
    const refused = answers.filter((a) => !a.message.includes("queued"));
    expect(refused).toHaveLength(1);
    expect(refused[0]!.message).toMatch(/^relay_unreachable: .*requests are already waiting/);
    proxy.unblock();
    const queued = answers.filter((a) => a.message.includes("queued")).map((a) => a.text);
    expect(queued.length).toBeGreaterThan(0);
    expect(await receiveAll(alice, queued.length)).toEqual(queued);
    expect((await alice.receive({ channel: CHANNEL, waitMs: 500 })).messages).toEqual([]);
  });

  it("after a restart, a queued message the relay refuses as too old is reported on the channel, not dropped in silence", async () => {
    const { alice, bob: first, bobConfig, proxy } = await bobBehindProxy(300);
    let bob = first;
    proxy.block();
    expect(await bob.send(CHANNEL, "queued across a restart")).toMatchObject({ status: "queued" });
    await bob.close();
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    bob = await openAgent(bobConfig);
    expect(await firstWarnings(bob)).toEqual(["message_not_delivered"]);
  });

  it("a flood of queued messages refused after a restart is reported once per channel and does not push out other channels' warnings", async () => {
    // Warnings are kept up to a bound, oldest out first: one per refused message let 100 refusals
    // on one channel push out the report of another channel's lost message before anyone read it.
    const other = "acme/chaos/other";
    const { alice, bob: first, bobConfig, bobLog, proxy } = await bobBehindProxy(300, { packSends: false });
    let bob = first;
    await alice.createChannel(other);
    await alice.addMember(other, { agent: "bob" });
    await eventually(async () => (await bob.channels()).some((c) => c.channel === other));
    proxy.block();
    expect(await bob.send(other, "lost on the other channel")).toMatchObject({ status: "queued" });
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => bob.send(CHANNEL, `lost ${i}`)));
    expect(outcomes.every((o) => o.status === "queued")).toBe(true);
    await bob.close();
    for (const channel of [CHANNEL, other]) for (let i = 0; i < 3; i++) await alice.rotateKeys(channel);
    proxy.unblock();
    bob = await openAgent(bobConfig);
    await eventually(() => bobLog.filter((line) => line.startsWith("message_not_delivered on")).length >= 101);
    const codes = async (channel: string) => ((await bob.receive({ channel, waitMs: 0 })).warnings ?? []).map((w) => w.code);
    expect(await codes(other)).toEqual(["message_not_delivered"]);
    expect(await codes(CHANNEL)).toEqual(["message_not_delivered"]);
  });

  it("a commit persisted but never handed to the relay (killed in between) is sent after a restart", async () => {
    const relay = await startRelay();
    const aliceConfig = configFor(relay, "alice");
    let alice = await openAgent(aliceConfig);
    const bob = await openAgent(configFor(relay, "bob"));
    await channelOf(alice, bob);
    const epoch = (await alice.members(CHANNEL)).epoch;
    await alice.close();
    // What a SIGKILL after MlsAgent stored the pending commit, before the outbox, leaves behind.
    const store = AgentStore.open(aliceConfig.dataDir!);
    await (await MlsAgent.open({ name: "alice", port: store })).selfUpdate(CHANNEL);
    store.close();
    alice = await openAgent(aliceConfig);
    await eventually(async () => (await bob.members(CHANNEL)).epoch === epoch + 1n && (await alice.members(CHANNEL)).epoch === epoch + 1n);
    // and alice can commit again
    expect((await alice.rotateKeys(CHANNEL)).epoch).toBe(epoch + 2n);
  });

  it("a member removed and added back while offline reads everything sent after its return", async () => {
    // On restart bob's link replays his removal, the messages after it and his re-add; the
    // Welcome then re-follows the channel from the add, and the link used to drop that replay as
    // "already delivered on this link".
    const relay = await startRelay();
    const alice = await openAgent(configFor(relay, "alice"));
    const bobConfig = configFor(relay, "bob");
    let bob = await openAgent(bobConfig);
    await channelOf(alice, bob);
    await bob.close();
    await alice.removeMember(CHANNEL, "bob");
    for (let i = 0; i < 3; i++) await alice.send(CHANNEL, `without bob ${i}`);
    await alice.addMember(CHANNEL, { agent: "bob" });
    for (let i = 0; i < 3; i++) await alice.send(CHANNEL, `with bob ${i}`);
    bob = await openAgent(bobConfig);
    expect(await receiveAll(bob, 3)).toEqual(["with bob 0", "with bob 1", "with bob 2"]);
    await eventually(async () => (await bob.members(CHANNEL).catch(() => undefined))?.epoch === (await alice.members(CHANNEL)).epoch);
  });
});

/** The codes of the first warnings `agent`'s receive() reports on the channel. */
async function firstWarnings(agent: Agent, ms?: number): Promise<string[]> {
  let warnings: { code: string }[] = [];
  await eventually(async () => {
    warnings = (await agent.receive({ channel: CHANNEL, waitMs: 200 })).warnings ?? [];
    return warnings.length > 0;
  }, ms);
  return warnings.map((w) => w.code);
}

/** What one observes for a while: bob's texts that reach alice, and bob's warnings. */
async function observe(alice: Agent, bob: Agent, ms: number): Promise<{ texts: string[]; warnings: string[] }> {
  const seen = { texts: [] as string[], warnings: [] as string[] };
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.texts.push(...(await alice.receive({ channel: CHANNEL, waitMs: 100 })).messages.filter((m) => m.sender === "bob").map((m) => m.message));
    seen.warnings.push(...((await bob.receive({ channel: CHANNEL, waitMs: 100 })).warnings ?? []).map((w) => w.code));
  }
  return seen;
}

describe("queued messages refused as too old, when they were archived after all", () => {
  it("a queued message the relay archived (its ack lost) is not sent twice when, past the dedup window, it comes back refused as too old", async () => {
    const dir = tempDir("skytale-relay-");
    const channelLog = new SqliteChannelLog(dir, { dedupWindow: { frames: 4, channels: 8 } });
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", dir, "--cover", "off"], {}), { log: () => {}, channelLog });
    afterThisTest(() => relay.close());
    const proxy = await proxyTo(Number(new URL(relay.url).port));
    const alice = await openAgent(configFor(relay, "alice"));
    const bobLog: string[] = [];
    const bob = await openAgent({ ...configFor(relay, "bob", proxy.url), sendTimeoutMs: 300, log: (line) => void bobLog.push(line) });
    await channelOf(alice, bob);
    proxy.mute();
    expect(await bob.send(CHANNEL, "once")).toMatchObject({ status: "queued" });
    expect(await receiveAll(alice, 1)).toEqual(["once"]);
    proxy.block();
    for (let i = 0; i < 5; i++) await alice.send(CHANNEL, `alice ${i}`);
    for (let i = 0; i < 3; i++) await alice.rotateKeys(CHANNEL);
    proxy.unblock();
    await eventually(async () => (await bob.members(CHANNEL)).epoch === (await alice.members(CHANNEL)).epoch);
    const seen = await observe(alice, bob, 2000);
    expect(seen).toEqual({ texts: [], warnings: [] });
    // The path under test ran: the relay refused the late copy, and bob knew it had been archived.
    expect(bobLog.some((line) => line.includes("a copy of a queued message the relay had archived was refused (stale_epoch)"))).toBe(true);
  });
});
