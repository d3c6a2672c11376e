import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { checkToken } from "../../src/relay/token.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { groupOf, tempDir, TEST_SECRET, text } from "../helpers.js";
import { spawnRelay, type RelayProcess } from "./relayProcess.js";
import { TestLink } from "./testLink.js";
import { didKeyOf } from "../../src/mls/didKey.js";
import { testKeyOf } from "../identity.js";
import { openAtRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/crash";
const run = promisify(execFile);
const CLI = join(import.meta.dirname, "../../src/cli.ts");
const children: RelayProcess[] = [];
afterEach(() => children.splice(0).forEach((r) => r.child.kill("SIGKILL")));

async function start(args: string[]): Promise<RelayProcess> {
  const r = await spawnRelay(args);
  children.push(r);
  return r;
}

/** Connects to whatever relay listens at url now, retrying while it is down. */
async function reconnect(url: string, key: Uint8Array, agent: string): Promise<TestLink> {
  for (let i = 0; ; i++) {
    try {
      return await TestLink.connect(url, key, agent);
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A sender that keeps every message until acknowledged, and re-sends after any disconnect. */
async function sendAll(url: string, key: Uint8Array, agent: string, bodies: Uint8Array[], acked: Map<string, bigint>): Promise<void> {
  let next = 0;
  while (next < bodies.length) {
    const l = await reconnect(url, key, agent);
    try {
      while (next < bodies.length) {
        const window = bodies.slice(next, next + 10);
        const replies = await Promise.all(window.map((body) => l.request({ type: "Msg", id: 0n, body }, 2000)));
        replies.forEach((r, i) => {
          if (r.type !== "Ack") throw new Error(`unexpected ${r.type}`);
          acked.set(Buffer.from(window[i]!).toString("hex"), r.seq);
        });
        next += window.length;
      }
    } catch {
      // the relay went away mid-window: reconnect and send the unacknowledged part again
    } finally {
      l.close();
    }
  }
}

/** Frames of the channel before the test's messages: the commit that made the group (openAtRelay). */
const HISTORY = 1;

/** A subscriber that resumes from its last seq after any disconnect, until it has `total` frames after the history. */
async function receiveAll(url: string, key: Uint8Array, agent: string, channel: Uint8Array, total: number, log: Envelope[]): Promise<void> {
  while (log.length < total) {
    const l = await reconnect(url, key, agent);
    try {
      const from = BigInt(log.length + HISTORY + 1);
      await l.request({ type: "Subscribe", id: 0n, channel, fromSeq: from }, 2000);
      await new Promise<void>((resolve) => {
        const drain = () => {
          for (const e of l.pushed.splice(0)) if (e.id === BigInt(log.length + HISTORY + 1)) log.push(e);
          if (log.length >= total || l.closed) resolve();
        };
        const timer = setInterval(drain, 10);
        void l.waitFor(() => log.length + l.pushed.length >= total, 60_000).catch(() => undefined).finally(() => {
          drain();
          clearInterval(timer);
          resolve();
        });
        void l.waitClosed(60_000).then(() => {
          drain();
          clearInterval(timer);
          resolve();
        }, () => undefined);
      });
    } catch {
      // reconnect
    } finally {
      l.close();
    }
  }
}

describe("the relay as a process", () => {
  it("SIGKILLed in the middle of 1,000 messages from 3 clients: every acknowledged message reaches every subscriber once, in one order", async () => {
    const [[alice, bob, carol], stream] = await groupOf(CHANNEL, "alice", "bob", "carol");
    const senders = [alice!, bob!, carol!];
    const groupId = (await alice!.mls.channelInfo(CHANNEL)).groupId;
    const bodies = await Promise.all(
      senders.map(async (s, k) => {
        const out: Uint8Array[] = [];
        for (let i = 0; i < (k === 0 ? 334 : 333); i++) out.push(await s.mls.encrypt(CHANNEL, text(`${s.name} ${i}`)));
        return out;
      }),
    );
    const dataDir = tempDir("skytale-relay-crash-");
    const first = await start(["--port", "0", "--data-dir", dataDir, "--cover", "off"]);
    const { url, port, key } = first;
    const creator = await TestLink.connect(url, key, "alice");
    await openAtRelay(creator, stream);
    creator.close();
    const acked = new Map<string, bigint>();
    const logs: Envelope[][] = [[], [], []];
    const receiving = senders.map((s, i) => receiveAll(url, key, `${s.name}-reader`, groupId, 1000, logs[i]!));
    const sending = senders.map((s, i) => sendAll(url, key, s.name, bodies[i]!, acked));

    while (acked.size < 300) await new Promise((r) => setTimeout(r, 5));
    first.child.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    const second = await start(["--port", String(port), "--data-dir", dataDir, "--cover", "off"]);
    expect(second.key).toEqual(key); // the same relay key, from its data dir

    await Promise.all(sending);
    await Promise.all(receiving);
    expect(acked.size).toBe(1000);
    const order = logs[0]!.map((e) => (e.type === "Msg" ? Buffer.from(e.body).toString("hex") : "?"));
    expect(order).toHaveLength(1000);
    expect(new Set(order).size).toBe(1000);
    for (const log of logs) expect(log.map((e) => (e.type === "Msg" ? Buffer.from(e.body).toString("hex") : "?"))).toEqual(order);
    for (const [body, seq] of acked) expect(order[Number(seq) - HISTORY - 1]).toBe(body);
  });

  it("stops cleanly on SIGTERM and keeps what it acknowledged", async () => {
    const [[alice], stream] = await groupOf(CHANNEL, "alice");
    const groupId = (await alice!.mls.channelInfo(CHANNEL)).groupId;
    const dataDir = tempDir("skytale-relay-term-");
    const relay = await start(["--port", "0", "--data-dir", dataDir]);
    const l = await TestLink.connect(relay.url, relay.key, "alice");
    await openAtRelay(l, stream);
    const body = await alice!.mls.encrypt(CHANNEL, text("kept"));
    expect(await l.request({ type: "Msg", id: 0n, body })).toMatchObject({ type: "Ack", seq: 1n });
    relay.child.kill("SIGTERM");
    expect(await relay.exited).toEqual({ code: 0, signal: null });
    expect((await l.waitClosed()).code).toBe(1001);
    const again = await start(["--port", "0", "--data-dir", dataDir]);
    const r = await TestLink.connect(again.url, again.key, "bob");
    await r.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n });
    await r.waitFor((p) => p.length === 1);
    expect(r.pushed[0]).toEqual({ type: "Msg", id: 1n, body });
    r.close();
  });

  it("refuses to listen beyond loopback without an auth secret", async () => {
    await expect(spawnRelay(["--host", "0.0.0.0", "--port", "0", "--data-dir", tempDir()])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("without --auth-secret-file"),
    });
  });

  it("skytale-mcp token mints a token the relay accepts, binding the name to the key", async () => {
    const key = testKeyOf("alice");
    const env = { ...process.env, SKYTALE_RELAY_SECRET: TEST_SECRET };
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", CLI, "token", "--sub", "alice", "--key", didKeyOf(key), "--ttl", "60"], { env });
    expect(checkToken(TEST_SECRET, stdout.trim(), "alice", key)).toMatchObject({ ok: true, claims: { sub: "alice" } });
    expect(checkToken(TEST_SECRET, stdout.trim(), "alice", testKeyOf("mallory"))).toEqual({ ok: false, reason: "wrong_key" });
    expect(stderr).toMatch(/^token id [\w-]+ for 'alice', expires .*skytale-mcp revoke --id/);
    await expect(run(process.execPath, ["--import", "tsx", CLI, "token", "--secret", "abc", "--sub", "alice", "--key", didKeyOf(key)])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("too weak"),
    });
  });
});
