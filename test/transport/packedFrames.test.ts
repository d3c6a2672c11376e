// The client's link packs what one turn sends into shared frames, in order.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { RelayClient } from "../../src/transport/relayClient.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import { FakeRelay } from "./fakeRelay.js";
import { ManualTimers, mlsMessage } from "./helpers.js";
import { testIdentity } from "../identity.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A connected client of a fake relay, and 12 small messages for one channel. */
async function setup(): Promise<{ relay: FakeRelay; client: RelayClient; framesBefore: number; bodies: Uint8Array[] }> {
  const relay = await FakeRelay.start();
  const timers = new ManualTimers();
  const client = new RelayClient({ url: relay.url, agent: "alice", identity: testIdentity("alice"), relayKey: relay.key.publicKey, cover: { mode: "off", rate: 0 }, timers, now: () => timers.now, random: () => 0.5 });
  cleanups.push(() => relay.close(), () => client.close());
  await client.connect();
  const channel = new Uint8Array(randomBytes(12));
  return { relay, client, framesBefore: relay.frameSizes.length, bodies: Array.from({ length: 12 }, (_, i) => mlsMessage(channel, 0n, 1, 100, i)) };
}

describe("client link: packed frames", () => {
  it("requests made in one turn share frames and arrive in order", async () => {
    const { relay, client, framesBefore, bodies } = await setup();
    const seqs = await Promise.all(bodies.map((body) => client.sendMessage(body)));
    expect(seqs).toEqual(bodies.map((_, i) => BigInt(i + 1)));
    const received = relay.received.filter((e) => e.type === "Msg");
    expect(received.map((e) => e.type === "Msg" && Buffer.from(e.body).toString("hex"))).toEqual(bodies.map((b) => Buffer.from(b).toString("hex")));
    const frames = relay.frameSizes.slice(framesBefore);
    expect(frames.length).toBeLessThan(bodies.length);
    expect(frames.every((s) => (BUCKETS as readonly number[]).includes(s))).toBe(true);
  });

  it("a relay that announces an older revision (one that would trust names) is refused for good, with the reason", async () => {
    for (const revision of [1, 2]) {
      const relay = await FakeRelay.start({ revision });
      const client = new RelayClient({ url: relay.url, agent: "alice", identity: testIdentity("alice"), relayKey: relay.key.publicKey, cover: { mode: "off", rate: 0 } });
      cleanups.push(() => relay.close(), () => client.close());
      await expect(client.connect()).rejects.toMatchObject({ code: "incompatible", message: expect.stringMatching(/upgrade the relay/) });
      expect(client.state).toBe("failed");
      expect(relay.received).toEqual([]);
    }
  });
});
