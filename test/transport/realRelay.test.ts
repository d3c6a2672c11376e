import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseRelayConfig, type RelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { mintToken } from "../../src/relay/token.js";
import { MemoryOutbox, type Outbox } from "../../src/transport/outbox.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { mlsMessage, tempDir, waitFor } from "./helpers.js";
import { TEST_SECRET } from "../helpers.js";
import { testChannel, testIdentity, testKeyOf } from "../identity.js";

/** The same client against the real relay (src/relay) rather than the test double. */

const SECRET = TEST_SECRET;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startRelay(config: RelayConfig): Promise<Relay> {
  const relay = await Relay.start(config, { log: () => {} });
  cleanups.push(() => relay.close());
  return relay;
}

function client(relay: Relay, agent: string, pinFile: string, outbox: Outbox, token = mintToken(SECRET, agent, testKeyOf(agent), 600)): RelayClient {
  // Paced both ways, fast enough that the 100 KB message takes a fraction of a second.
  const c = new RelayClient({ url: relay.url, agent, identity: testIdentity(agent), token, pinFile, outbox, cover: { mode: "poisson", rate: 100, cell: 8192 }, backoff: { baseMs: 10, capMs: 50 } });
  cleanups.push(() => c.close());
  return c;
}

describe("against the real relay", () => {
  it("speaks the whole protocol, and loses nothing across a relay restart", async () => {
    const dataDir = tempDir();
    const config = parseRelayConfig(["--port", "0", "--data-dir", dataDir, "--auth-secret", SECRET, "--cover-rate", "100", "--cover-cell", "8192"], {});
    const relay = await startRelay(config);
    const pinFile = join(dataDir, "relay-keys.json");
    const outbox = new MemoryOutbox();
    const alice = client(relay, "alice", pinFile, outbox);
    const seen: bigint[] = [];
    const inbox: string[] = [];
    const errors: string[] = [];
    alice.on("channel", (d) => seen.push(d.seq));
    alice.on("inbox", (d) => inbox.push(d.envelope.type));
    alice.on("error", (e) => errors.push(e.code));
    await alice.connect();

    const { channel, opening, proof } = testChannel(testIdentity("alice"));
    await alice.openChannel(opening);
    await alice.subscribe(channel, 1n);
    await alice.subscribeInbox(1n);
    const welcome = { recipients: [testKeyOf("alice")], welcome: new Uint8Array([1]) };
    const [winner, loser] = [mlsMessage(channel, 0n, 3), mlsMessage(channel, 0n, 3, 64, 9)];
    expect(await alice.sendCommit(winner, welcome, proof(winner, 0n))).toMatchObject({ kind: "ack", epoch: 1n, seq: 1n });
    expect(await alice.sendCommit(loser, undefined, proof(loser, 0n))).toMatchObject({ kind: "nack", epoch: 1n, winningSeq: 1n });
    expect(await alice.sendMessage(mlsMessage(channel, 1n, 1, 100_000))).toBe(2n);
    expect(await alice.forward("JoinRequest", { kind: "channel", channel }, new Uint8Array([5]))).toBe(3n);
    expect(await alice.publishKeyPackage(new Uint8Array([1, 2]))).toBe(1); // the real relay says how many it holds
    expect(await alice.fetchKeyPackage(testKeyOf("alice"))).toEqual(new Uint8Array([1, 2]));
    await waitFor(() => seen.length === 3 && inbox.length === 1);
    await alice.ackInbox(1n);

    const mallory = client(relay, "mallory", pinFile, new MemoryOutbox(), "not a token");
    await expect(mallory.connect()).rejects.toMatchObject({ code: "auth_failed" });

    const port = relay.port;
    await relay.close();
    const bodies = [1, 2, 3].map((i) => mlsMessage(channel, 1n, 1, 30, i));
    const pending = bodies.map((b) => alice.sendMessage(b));
    await startRelay({ ...config, port });
    expect(await Promise.all(pending)).toEqual([4n, 5n, 6n]);
    await waitFor(() => seen.length === 6);
    expect(seen).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(outbox.list()).toEqual([]);
    expect(errors).toEqual([]);
  });
});
