// The client's side of a paced link over a real socket, on a manual clock: nothing leaves between
// slots (not even Auth), every slot sends exactly one frame of the cell size, and a message takes
// the places of cover frames instead of adding any.
import { afterEach, describe, expect, it } from "vitest";
import { RelayClient } from "../../src/transport/relayClient.js";
import type { CoverConfig } from "../../src/wire/cover.js";
import { encodeEnvelope } from "../../src/wire/envelope.js";
import { cellCapacity } from "../../src/wire/frames.js";
import { FakeRelay } from "./fakeRelay.js";
import { channelId, ManualTimers, mlsMessage, waitFor } from "./helpers.js";
import { testIdentity } from "../identity.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(cover: CoverConfig) {
  const relay = await FakeRelay.start();
  const timers = new ManualTimers();
  const client = new RelayClient({ url: relay.url, agent: "alice", identity: testIdentity("alice"), relayKey: relay.key.publicKey, cover, timers, now: () => timers.now, random: () => 0.5 });
  cleanups.push(() => relay.close(), () => client.close());
  return { relay, timers, client };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** With random fixed at 0.5 every poisson gap is ln 2 / rate s; timers fire on the whole ms after each deadline. */
const slotTimes = (rate: number, count: number) => Array.from({ length: count }, (_, i) => Math.ceil(((i + 1) * Math.log(2) * 1000) / rate));

describe("cover traffic: the client's paced link", () => {
  it("sends one cell-sized frame per slot and nothing between slots: Auth and a message wait for theirs", async () => {
    const { relay, timers, client } = await setup({ mode: "poisson", rate: 10, cell: 1024 });
    const slots = slotTimes(10, 40);
    const connected = client.connect();
    await waitFor(() => relay.connections === 1);
    await sleep(30);
    // Handshake done, Auth queued: nothing until the first slot.
    expect(relay.frameSizes).toEqual([]);
    /** Moves the clock to just before the next slot (nothing may leave), then onto it (exactly one frame). */
    const nextSlot = async () => {
      const before = relay.frameSizes.length;
      timers.advance((slots[before] as number) - 1 - timers.now);
      await sleep(15);
      expect(relay.frameSizes).toHaveLength(before);
      timers.advance(1);
      await waitFor(() => relay.frameSizes.length === before + 1);
    };
    await nextSlot();
    await connected;
    expect(relay.received.map((e) => e.type)).toEqual(["Auth"]);
    for (let i = 0; i < 5; i++) await nextSlot();
    expect(relay.coverFrames).toBe(5);

    // A message of about 3 KB takes the next slots, as many as its bytes in the stream need.
    const body = mlsMessage(channelId(), 0n, 1, 3000);
    const cells = Math.ceil((2 + encodeEnvelope({ type: "Msg", id: 1n, body }).length) / cellCapacity(1024));
    expect(cells).toBe(4);
    const sent = client.sendMessage(body);
    await sleep(30);
    expect(relay.received.map((e) => e.type)).toEqual(["Auth"]);
    for (let i = 0; i < cells - 1; i++) await nextSlot();
    expect(relay.received.map((e) => e.type)).toEqual(["Auth"]);
    await nextSlot();
    expect(await sent).toBe(1n);
    expect(relay.received.map((e) => e.type)).toEqual(["Auth", "Msg"]);
    expect(relay.coverFrames).toBe(5);
    for (let i = 0; i < 3; i++) await nextSlot();
    expect(relay.coverFrames).toBe(8);
    expect(new Set(relay.frameSizes)).toEqual(new Set([1024]));
  });

});
