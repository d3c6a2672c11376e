// The client settles outbox entries from the relay's Acks frames (one frame acknowledging a
// batch of messages) exactly as from single Acks: each caller gets its own seq, nothing stays.
import { afterEach, describe, expect, it } from "vitest";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { MemoryOutbox } from "../../src/transport/outbox.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { mlsMessage, tempDir, waitFor } from "./helpers.js";
import { testChannel, testIdentity } from "../identity.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("coalesced acks", () => {
  it("a burst of messages: every send resolves with its own dense seq and leaves the outbox", async () => {
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir(), "--cover", "off"], {}), { log: () => {} });
    cleanups.push(() => relay.close());
    const outbox = new MemoryOutbox();
    const client = new RelayClient({ url: relay.url, agent: "alice", identity: testIdentity("alice"), relayKey: relay.relayKey.publicKey, outbox, cover: { mode: "off", rate: 0 } });
    cleanups.push(() => client.close());
    const errors: string[] = [];
    const seen: bigint[] = [];
    client.on("error", (e) => errors.push(e.code));
    client.on("channel", (d) => seen.push(d.seq));
    await client.connect();
    const { channel, opening } = testChannel(testIdentity("alice"));
    await client.openChannel(opening);
    await client.subscribe(channel, 1n);

    const n = 100;
    const seqs = await Promise.all(Array.from({ length: n }, (_, i) => client.sendMessage(mlsMessage(channel, 0n, 1, 100, i))));

    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => BigInt(i + 1)));
    expect(outbox.list()).toEqual([]);
    expect(relay.metrics.framesOut.get("Acks")).toBeGreaterThan(0);
    await waitFor(() => seen.length === n);
    expect(seen).toEqual(seqs);
    expect(errors).toEqual([]);
  });
});
