import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { RelayClient } from "../../src/transport/relayClient.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import type { CoverConfig } from "../../src/wire/cover.js";
import { FakeRelay } from "./fakeRelay.js";
import { ManualTimers, mlsMessage, waitFor } from "./helpers.js";
import { testIdentity } from "../identity.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(cover: CoverConfig) {
  const relay = await FakeRelay.start();
  const timers = new ManualTimers();
  const client = new RelayClient({
    url: relay.url,
    agent: "alice", identity: testIdentity("alice"),
    relayKey: relay.key.publicKey,
    cover,
    timers,
    now: () => timers.now,
    random: () => 0.5,
  });
  cleanups.push(() => relay.close(), () => client.close());
  return { relay, timers, client };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("cover traffic", () => {
  it("poisson: real frames go at once, dummies flow while idle", async () => {
    const { relay, timers, client } = await setup({ mode: "poisson", rate: 10 });
    await client.connect();
    expect(relay.coverFrames).toBe(0);
    // With random fixed at 0.5 every gap is ln 2 / 10 s, about 69 ms: 14 of them in a second.
    timers.advance(1000);
    await waitFor(() => relay.coverFrames === 14);
    const sent = client.sendMessage(mlsMessage(new Uint8Array(randomBytes(12)), 0n, 1, 3000));
    expect(await sent).toBe(1n);
    timers.advance(1000);
    await waitFor(() => relay.coverFrames === 28);
    // Cover sizes are drawn from recent real frames: by now some are 4096 like the message.
    expect(relay.frameSizes.every((s) => (BUCKETS as readonly number[]).includes(s))).toBe(true);
  });

  it("constant: real frames wait for a slot and take a dummy's place", async () => {
    const { relay, timers, client } = await setup({ mode: "constant", rate: 10 });
    const connected = client.connect();
    // Auth itself waits for the first slot.
    await waitFor(() => relay.connections === 1);
    await sleep(20);
    expect(relay.received).toEqual([]);
    timers.advance(100);
    await connected;

    timers.advance(300);
    await waitFor(() => relay.coverFrames === 3);
    const sent = client.sendMessage(mlsMessage(new Uint8Array(randomBytes(12)), 0n, 1));
    await sleep(30);
    expect(relay.received.map((e) => e.type)).toEqual(["Auth"]);
    timers.advance(100);
    expect(await sent).toBe(1n);
    expect(relay.received.map((e) => e.type)).toEqual(["Auth", "Msg"]);
    expect(relay.coverFrames).toBe(3);
    expect(relay.frameSizes).toHaveLength(5);
  });

  it("constant: the fragments of a large message fill consecutive slots, and a small piece queued after them shares the last one's", async () => {
    const { relay, timers, client } = await setup({ mode: "constant", rate: 10 });
    const connected = client.connect();
    await waitFor(() => relay.connections === 1);
    await sleep(20);
    timers.advance(100);
    await connected;
    const big = client.sendMessage(mlsMessage(new Uint8Array(randomBytes(12)), 0n, 1, 100_000));
    const ping = client.ping();
    for (let slot = 0; slot < 5; slot++) timers.advance(100);
    expect(await big).toBe(1n);
    await ping;
    // Four fragments back to back (the last one shorter, with the ping packed in), then cover of a
    // size drawn from the real frames sent.
    expect(relay.frameSizes.slice(1, 5)).toEqual([32768, 32768, 32768, 2048]);
    expect(relay.frameSizes.slice(0, 5)).toContain(relay.frameSizes[5]);
    expect(relay.received.map((e) => e.type)).toEqual(["Auth", "Msg", "Ping"]);
    expect(relay.coverFrames).toBe(1);
  });
});
