// What only the JetStream store has: it refuses a nats-server it must not trust (and says why),
// checks and creates its streams, reports NATS in /healthz and /metrics, answers "retry" while NATS
// is down and takes the same requests once it is back, and how `skytale-mcp relay --nats` starts.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseRelayConfig } from "../../src/relay/config.js";
import { NatsChannelLog } from "../../src/relay/jetstream/natsChannelLog.js";
import { versionRefusal } from "../../src/relay/jetstream/streams.js";
import { StoreMetrics } from "../../src/relay/metrics.js";
import { Relay } from "../../src/relay/relayServer.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { NatsServer, natsServerBin } from "../fixtures/natsServer.js";
import { tempDir } from "../helpers.js";
import { mlsMessage } from "../transport/helpers.js";
import { openedChannel } from "./relayFixture.js";
import { spawnRelay } from "./relayProcess.js";
import { TestLink } from "./testLink.js";

const run = promisify(execFile);
const CLI = join(import.meta.dirname, "../../src/cli.ts");
const OLD = natsServerBin("2.9");
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function keyFile(): string {
  const file = join(tempDir(), "relay.key");
  writeFileSync(file, randomBytes(32), { mode: 0o600 });
  return file;
}

const open = (servers: string[], prefix = `N${randomBytes(4).toString("hex")}`) =>
  NatsChannelLog.open({ servers, prefix, replicas: undefined, credsFile: undefined }, { metrics: new StoreMetrics(), report: () => {} });

describe("the NATS server the relay accepts", () => {
  it("2.10 and later, clustered or not; below 2.10 it says why", () => {
    expect(versionRefusal("2.10.27", true)).toBeUndefined();
    expect(versionRefusal("2.11.0", true)).toBeUndefined();
    expect(versionRefusal("3.0.1", false)).toBeUndefined();
    expect(versionRefusal("2.9.10", true)).toMatch(/#4320.*two commits could both win one epoch/);
    expect(versionRefusal("2.9.25", false)).toMatch(/needs 2\.10 or newer/);
    expect(versionRefusal("garbage", false)).toMatch(/cannot read/);
  });

  it.skipIf(OLD === undefined)("refuses Debian 12's nats-server 2.9 in a cluster, with the reason", async () => {
    const servers = await NatsServer.cluster(3, { bin: OLD! });
    cleanups.push(() => Promise.all(servers.map((s) => s.kill())));
    await expect(open(servers.map((s) => s.url))).rejects.toThrow(/nats-server 2\.9\.10 in a cluster lets several publishers win the same compare-and-set.*#4320/);
  });

  it.skipIf(OLD === undefined)("refuses a single 2.9 server too", async () => {
    const server = await NatsServer.single({ bin: OLD! });
    cleanups.push(() => server.kill());
    await expect(open([server.url])).rejects.toThrow(/nats-server 2\.9\.10 is too old: the relay needs 2\.10/);
  });
});

describe("a relay node on JetStream", () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await NatsServer.single();
  });
  afterAll(() => nats.kill());

  it("creates its four streams when absent and refuses one configured against it", async () => {
    const prefix = `N${randomBytes(4).toString("hex")}`;
    const log = await open([nats.url], prefix);
    cleanups.push(() => log.close());
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) names.push(name);
    expect(names.sort()).toEqual([`${prefix}_CH`, `${prefix}_IN`, `${prefix}_KP`, `${prefix}_WQ`]);

    const other = `N${randomBytes(4).toString("hex")}`;
    await jsm.streams.add({ name: `${other}_CH`, subjects: [`${other}.ch.*`], retention: RetentionPolicy.Limits, max_age: 3600e9 });
    await expect(open([nats.url], other)).rejects.toThrow(/stream \w+_CH exists but max_age is set: the relay prunes by itself/);
  });

  it("refuses a frame larger than NATS takes in one message as too_large, and goes on", async () => {
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--cover", "off", "--nats", nats.url, "--nats-prefix", `N${randomBytes(4).toString("hex")}`, "--key-file", keyFile(), "--data-dir", tempDir()], {}), { log: () => {} });
    cleanups.push(() => relay.close());
    const l = await TestLink.connect(relay.url, relay.relayKey.publicKey, "alice");
    cleanups.push(async () => l.close());
    const { channel } = await openedChannel(l);
    // The test server keeps NATS's default max_payload, 1 MiB: the record limit is below it.
    expect(await l.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 1_000_000) }, 20_000)).toMatchObject({ type: "Error", code: "too_large", message: expect.stringMatching(/max_payload/) });
    expect(await l.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 900_000) }, 20_000)).toMatchObject({ type: "Ack", seq: 1n });
  });

  it("reports NATS in /healthz and /metrics; while NATS is down writes are answered 'retry', and the same ones go through after", async () => {
    const server = await NatsServer.single();
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--cover", "off", "--nats", server.url, "--key-file", keyFile(), "--data-dir", tempDir(), "--metrics-port", "0"], {}), { log: () => {} });
    cleanups.push(() => relay.close());
    cleanups.push(() => server.kill());
    const http = relay.url.replace("ws:", "http:");
    const admin = `http://127.0.0.1:${relay.metricsPort}`;
    const l = await TestLink.connect(relay.url, relay.relayKey.publicKey, "alice");
    cleanups.push(async () => l.close());
    const { channel } = await openedChannel(l);
    expect(await l.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 50, 1) })).toMatchObject({ type: "Ack", seq: 1n });
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^skytale_relay_store_seconds_bucket\{op="publish",le="0\.005"\} \d+$/m);
    expect(metrics).toMatch(/^skytale_relay_store_seconds_count\{op="get"\} [1-9]\d*$/m);

    await server.kill();
    for (let i = 0; i < 100 && (await fetch(`${http}/healthz`)).status === 200; i++) await new Promise((r) => setTimeout(r, 50));
    const down = await fetch(`${http}/healthz`);
    expect([down.status, await down.text()]).toEqual([503, expect.stringMatching(/^unavailable\nstorage: nats disconnected/)]);
    const refused = (await l.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 50, 2) }, 20_000)) as Envelope;
    expect(refused).toMatchObject({ type: "Error", code: "internal", message: expect.stringMatching(/retry$/) });
    const whileDown = await (await fetch(`${admin}/metrics`)).text();
    expect(whileDown).toMatch(/skytale_relay_store_errors_total\{op="publish",kind="unavailable"\} [1-9]/);
    expect(whileDown).toMatch(/^skytale_relay_store_up 0$/m);

    await server.start();
    for (let i = 0; i < 200 && (await fetch(`${http}/healthz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await (await fetch(`${http}/healthz`)).text()).toMatch(/^ok\nstorage: nats connected/);
    expect(await l.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 50, 2) })).toMatchObject({ type: "Ack", seq: 2n });
  });
});

describe("skytale-mcp relay --nats", () => {
  it("needs a shared key file, nats:// URLs and sane replicas", () => {
    const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => () => parseRelayConfig(args, env);
    expect(parse(["--nats", "nats://127.0.0.1:4222"])).toThrow(/same --key-file/);
    expect(parse(["--nats", "127.0.0.1:4222", "--key-file", "k"])).toThrow(ConfigError);
    expect(parse(["--nats", "nats://a:1", "--key-file", "k", "--nats-replicas", "7"])).toThrow(/1-5/);
    expect(parse(["--nats-replicas", "3"])).toThrow(/need --nats/);
    expect(parse(["--nats", "nats://a:1", "--key-file", "k", "--nats-prefix", "a.b"])).toThrow(/--nats-prefix/);
    expect(parseRelayConfig([], { SKYTALE_RELAY_NATS: "nats://h1:4222, nats://h2:4222", SKYTALE_RELAY_KEY_FILE: "/k" })).toMatchObject({
      store: { kind: "nats", servers: ["nats://h1:4222", "nats://h2:4222"], prefix: "SKYTALE", replicas: undefined },
      keyFile: "/k",
    });
  });

  it("starts, serves and says where it keeps the archive; a missing key file stops it with the reason", async () => {
    const server = await NatsServer.single();
    cleanups.push(() => server.kill());
    const missing = await run(process.execPath, ["--import", "tsx", CLI, "relay", "--port", "0", "--nats", server.url, "--key-file", "/nonexistent/relay.key"]).catch((e: { code: number; stderr: string }) => e);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot read the relay key file \/nonexistent\/relay\.key: ENOENT/) });
    const key = keyFile();
    const relay = await spawnRelay(["--port", "0", "--cover", "off", "--nats", server.url, "--key-file", key]);
    cleanups.push(async () => relay.child.kill("SIGKILL"));
    expect(relay.stderr()).toMatch(/storage: NATS JetStream at nats:\/\/127\.0\.0\.1:\d+ \(streams SKYTALE_\*, 1 replica\)/);
    const l = await TestLink.connect(relay.url, relay.key, "alice");
    expect(await l.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    l.close();
  });
});
