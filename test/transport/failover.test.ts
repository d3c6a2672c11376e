// A client given several relay URLs (the nodes of one clustered relay): it moves to another node
// when its node goes away and resumes there from its cursors, nothing lost or repeated; the relay
// key it pinned holds for every node of the list.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { MemoryOutbox } from "../../src/transport/outbox.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { RelayEndpoints, relayBases, sameRelay } from "../../src/transport/relayEndpoints.js";
import { RELAY_KEY_PIN_FILE, RelayKeyPins } from "../../src/transport/relayKeyPin.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";
import { NatsServer } from "../fixtures/natsServer.js";
import { mlsMessage, tempDir, waitFor } from "./helpers.js";
import { testChannel, testIdentity } from "../identity.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("relay URL lists", () => {
  it("parse, compare and rotate", () => {
    expect(relayBases(" ws://a:1/ , wss://b:2/v1/link,ws://a:1")).toEqual(["ws://a:1", "wss://b:2"]);
    expect(() => relayBases("ws://a:1,http://b")).toThrow(/ws:\/\/ or wss:\/\//);
    expect(sameRelay("ws://a:1,ws://b:2", "ws://c:3,ws://b:2/")).toBe(true);
    expect(sameRelay("ws://a:1", "ws://b:2")).toBe(false);
    const endpoints = new RelayEndpoints(["ws://a", "ws://b", "ws://c"], () => 0.5);
    const seen = [endpoints.current];
    const rounds: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      rounds.push(endpoints.advance());
      seen.push(endpoints.current);
    }
    expect(seen).toEqual(["ws://b", "ws://c", "ws://a", "ws://b"]);
    expect(rounds).toEqual([false, false, true]);
  });
});

describe("a client of a clustered relay", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await NatsServer.single();
  });

  async function node(keyFile: string, prefix: string, port = 0): Promise<Relay> {
    const config = parseRelayConfig(["--port", String(port), "--cover", "off", "--nats", nats.url, "--nats-prefix", prefix, "--key-file", keyFile, "--data-dir", tempDir()], {});
    const relay = await Relay.start(config, { log: () => {} });
    cleanups.push(() => relay.close());
    return relay;
  }

  function keyFile(): string {
    const file = join(tempDir(), "relay.key");
    writeFileSync(file, randomBytes(32), { mode: 0o600 });
    return file;
  }

  it("fails over to another node when its node dies, and resumes from its cursors with nothing lost or repeated", async () => {
    const [key, prefix] = [keyFile(), `F${randomBytes(4).toString("hex")}`];
    const nodes = [await node(key, prefix), await node(key, prefix), await node(key, prefix)];
    const urls = nodes.map((n) => n.url);
    const pinFile = join(tempDir(), RELAY_KEY_PIN_FILE);
    const seen: bigint[] = [];
    const outbox = new MemoryOutbox();
    const client = new RelayClient({ url: urls.join(","), agent: "alice", identity: testIdentity("alice"), pinFile, outbox, cover: { mode: "off", rate: 0 }, backoff: { baseMs: 10, capMs: 50 }, random: () => 0 });
    cleanups.push(() => client.close());
    client.on("channel", (d) => seen.push(d.seq));
    const states: string[] = [];
    client.on("state", (s) => states.push(s.state));
    await client.connect();
    const { channel, opening } = testChannel(testIdentity("alice"));
    await client.openChannel(opening);
    await client.subscribe(channel, 1n);
    // Another client on another node writes too: its frames come through the store.
    const other = new RelayClient({ url: nodes[2]!.url, agent: "bob", identity: testIdentity("bob"), pinFile, cover: { mode: "off", rate: 0 } });
    cleanups.push(() => other.close());
    await other.connect();
    let n = 0;
    const send = (c: RelayClient) => c.sendMessage(mlsMessage(channel, 0n, 1, 40, n++));
    for (let i = 0; i < 5; i++) await Promise.all([send(client), send(other)]);
    await waitFor(() => seen.length === 10);

    // random() = 0: the client is on the first node. It dies; sends made meanwhile wait in the outbox.
    await nodes[0]!.close();
    const during = [send(client), send(client), send(other)];
    expect((await Promise.all(during)).every((seq) => seq > 10n)).toBe(true);
    for (let i = 0; i < 5; i++) await Promise.all([send(client), send(other)]);
    await waitFor(() => seen.length === 23);
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => BigInt(i + 1)));
    expect(states.filter((s) => s === "connected")).toHaveLength(2);
    expect(outbox.list()).toEqual([]);
    // Both node URLs are recorded with the one key.
    const pins = new RelayKeyPins(pinFile);
    expect(urls.map((url) => Buffer.from(pins.get(url) ?? []).toString("hex"))).toEqual(nodes.map((n) => Buffer.from(n.relayKey.publicKey).toString("hex")));
  });

  it("a listed node that holds another key is refused as a key change, even on first contact with it", async () => {
    const [key, prefix] = [keyFile(), `F${randomBytes(4).toString("hex")}`];
    const good = await node(key, prefix);
    const impostor = await node(keyFile(), prefix);
    const pinFile = join(tempDir(), RELAY_KEY_PIN_FILE);
    new RelayKeyPins(pinFile).record(good.url, good.relayKey.publicKey);
    // random() = 0.99: the impostor, second in the list, is tried first.
    const client = new RelayClient({ url: `${good.url},${impostor.url}`, agent: "alice", identity: testIdentity("alice"), pinFile, cover: { mode: "off", rate: 0 }, backoff: { baseMs: 10, capMs: 50 }, random: () => 0.99 });
    cleanups.push(() => client.close());
    await expect(client.connect()).rejects.toMatchObject({ code: "relay_key_mismatch" });
    expect(new RelayKeyPins(pinFile).get(impostor.url)).toBeUndefined();
  });

  it("different keys recorded for two listed nodes stop the client before it connects", async () => {
    const pinFile = join(tempDir(), RELAY_KEY_PIN_FILE);
    const pins = new RelayKeyPins(pinFile);
    pins.record("ws://127.0.0.1:1", generateStaticKeyPair().publicKey);
    pins.record("ws://127.0.0.1:2", generateStaticKeyPair().publicKey);
    const client = new RelayClient({ url: "ws://127.0.0.1:1,ws://127.0.0.1:2", agent: "alice", identity: testIdentity("alice"), pinFile, cover: { mode: "off", rate: 0 } });
    cleanups.push(() => client.close());
    await expect(client.connect()).rejects.toMatchObject({ code: "relay_key_mismatch", message: expect.stringContaining("not one relay") });
  });
});
