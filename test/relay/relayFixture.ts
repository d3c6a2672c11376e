import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe } from "vitest";
import type { RelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { NatsServer } from "../fixtures/natsServer.js";
import { tempDir, type ChannelStream } from "../helpers.js";
import { testChannel, testIdentity } from "../identity.js";
import { testRelayConfig } from "./relayConfig.js";
import { bigintJson, TestLink, type TestLinkOptions } from "./testLink.js";

const running: Relay[] = [];
const links: TestLink[] = [];
afterEach(async () => {
  links.splice(0).forEach((l) => l.close());
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** The relay's two stores: the embedded SQLite archive, and NATS JetStream (a real single nats-server). */
export type StoreKind = "sqlite" | "jetstream";
export const STORES: readonly StoreKind[] = ["sqlite", "jetstream"];

/**
 * Where a JetStream relay of `dataDir` keeps its streams: the same prefix for the same data dir,
 * so that a test restarting a relay on its data dir finds its archive again, and a key file in
 * the data dir (one relay, one key).
 */
export function natsStoreFor(dataDir: string, servers: readonly string[], replicas = 1): Pick<RelayConfig, "store" | "keyFile"> {
  const keyFile = join(dataDir, "node-shared.key");
  if (!existsSync(keyFile)) writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const prefix = `T${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}`;
  return { store: { kind: "nats", servers, prefix, replicas, credsFile: undefined }, keyFile };
}

let nats: NatsServer | undefined;

/** A relay on 127.0.0.1, a free port and a temp data dir, on `store`, closed after each test. */
export async function startRelay(overrides: Partial<RelayConfig> = {}, store: StoreKind = "sqlite"): Promise<Relay> {
  const dataDir = overrides.dataDir ?? tempDir("skytale-relay-");
  if (store === "jetstream" && nats === undefined) throw new Error("call natsForFile() in the describe block of a JetStream test");
  const relay = await Relay.start(testRelayConfig(dataDir, { ...(store === "jetstream" ? natsStoreFor(dataDir, [nats!.url]) : {}), ...overrides }), { log: (line) => (line.startsWith("created stream") ? undefined : process.stderr.write(`relay: ${line}\n`)) });
  running.push(relay);
  return relay;
}

/** Starts one nats-server for this file's JetStream tests (call at the top of a describe). */
export function natsForFile(): void {
  beforeAll(async () => {
    nats ??= await NatsServer.single();
  });
}

/** The relay behaviour tests, once per store: `body` gets the store its relays use. */
export function eachStore(title: string, body: (store: StoreKind) => void): void {
  for (const store of STORES) {
    describe(`${title} (${store})`, () => {
      if (store === "jetstream") natsForFile();
      body(store);
    });
  }
}

/** A TestLink to `relay`, closed after each test. */
export async function link(relay: Relay, agent: string, options: TestLinkOptions = {}): Promise<TestLink> {
  const l = await TestLink.connect(relay.url, relay.relayKey.publicKey, agent, options);
  links.push(l);
  return l;
}

/**
 * Brings the relay up to the channel's state on a link of its creator: the opening, then the
 * commits groupFrom made (as their members applied them), so that the relay's epoch and commit
 * key are the group's.
 */
export async function openAtRelay(creator: TestLink, stream: ChannelStream): Promise<void> {
  if (stream.opening === undefined) throw new Error("the channel was not created through groupFrom");
  const opened = await creator.request({ type: "ChannelOpen", id: 0n, ...stream.opening });
  if (opened.type !== "Ack") throw new Error(`opening refused: ${JSON.stringify(opened, bigintJson)}`);
  for (const c of stream.commits) {
    const reply = await creator.request({ type: "GroupCommit", id: 0n, commit: c.commit, welcome: undefined, proof: c.proof });
    if (reply.type !== "GroupAck") throw new Error(`commit refused: ${JSON.stringify(reply, bigintJson)}`);
  }
}

/**
 * A channel opened at the relay by the agent on `creator` (its test identity's key makes the id),
 * for tests that send hand-made MLS-shaped frames; `label` makes another channel of the same agent.
 */
export async function openedChannel(creator: TestLink, label = ""): Promise<ReturnType<typeof testChannel>> {
  const channel = testChannel(testIdentity(creator.agent), label);
  const opened = await creator.request({ type: "ChannelOpen", id: 0n, ...channel.opening });
  if (opened.type !== "Ack") throw new Error(`opening refused: ${JSON.stringify(opened, bigintJson)}`);
  return channel;
}
