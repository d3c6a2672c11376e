// The relay's side of a paced link, on a manual clock: replies (AuthOk, acks) and fan-out ride in
// the relay's own slots, one frame of the cell size per slot, never right after the client's frame.
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { tempDir } from "../helpers.js";
import { testChannel, testIdentity } from "../identity.js";
import { ManualTimers, mlsMessage, waitFor } from "../transport/helpers.js";
import { TestLink } from "./testLink.js";

const running: { relay: Relay; links: TestLink[] }[] = [];
afterEach(async () => {
  for (const { relay, links } of running.splice(0)) {
    links.forEach((l) => l.close());
    await relay.close();
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("relay: the relay's side of a paced link", () => {
  it("answers Auth and a message only in its own slots, one 512-byte frame per slot, and fans out the same way", async () => {
    const timers = new ManualTimers();
    const relay = await Relay.start(
      {
        host: "127.0.0.1",
        port: 0,
        dataDir: tempDir("skytale-relay-"),
        authSecret: undefined,
        cover: { mode: "constant", rate: 10, cell: 512 },
        retentionDays: 7,
        maxChannelBytes: 64 * 1024 * 1024,
        durability: "normal",
        limits: DEFAULT_LIMITS,
      },
      { log: () => undefined, timers, now: () => timers.now },
    );
    const links: TestLink[] = [];
    running.push({ relay, links });
    const alice = await TestLink.connect(relay.url, relay.relayKey.publicKey, "alice", { auth: false });
    links.push(alice);
    /** Runs the relay's next slot (every 100 ms): exactly one frame arrives. */
    const slot = async () => {
      const before = alice.frameSizes.length;
      timers.advance(100);
      await waitFor(() => alice.frameSizes.length === before + 1);
      await sleep(5);
      expect(alice.frameSizes).toHaveLength(before + 1);
    };

    const identity = testIdentity("alice");
    const signature = await identity.prove(alice.binding);
    const authOk = alice.request({ type: "Auth", id: 0n, agent: "alice", key: identity.key, signature, token: "" });
    await sleep(50);
    // The Auth arrived and was handled; its answer waits for the relay's first slot.
    expect(alice.frameSizes).toEqual([]);
    await slot();
    expect((await authOk).type).toBe("AuthOk");
    expect(alice.frameSizes).toEqual([512]);

    const { channel, opening } = testChannel(identity);
    const opened = alice.request({ type: "ChannelOpen", id: 0n, ...opening });
    await sleep(50);
    expect(alice.frameSizes).toHaveLength(1);
    await slot();
    expect((await opened).type).toBe("Ack");
    const subscribed = alice.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n });
    await sleep(50);
    expect(alice.frameSizes).toHaveLength(2);
    await slot();
    await subscribed;

    // A message: its Ack and alice's own copy come in the following slots, never between them.
    const acked = alice.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 1500) } as Envelope);
    await sleep(50);
    expect(alice.frameSizes).toHaveLength(3);
    let slots = 0;
    while (alice.pushed.filter((e) => e.type === "Msg").length === 0 && slots < 10) {
      await slot();
      slots++;
    }
    expect((await acked).type).toBe("Ack");
    // Ack (about 20 bytes) and the 1.5 KB copy: four 496-byte cells of the stream.
    expect(slots).toBe(4);
    for (let i = 0; i < 3; i++) await slot();
    expect(alice.frameSizes.every((s) => s === 512)).toBe(true);
    expect(alice.frameSizes).toHaveLength(3 + slots + 3);
    expect(alice.covers).toBeGreaterThanOrEqual(3);
  });
});
