// Three relay nodes on a three-server NATS cluster (streams with three replicas), acting as one
// relay: frames accepted by any node reach subscribers on every node in order, one commit wins
// an epoch whichever nodes the racers use, and a node that dies while taking a commit with a
// Welcome leaves nothing undone or done twice: another node delivers the Welcome if (and only if)
// the commit won.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsChannelLog } from "../../src/relay/jetstream/natsChannelLog.js";
import { RelayMetrics } from "../../src/relay/metrics.js";
import { Relay } from "../../src/relay/relayServer.js";
import type { Envelope, EnvelopeOf } from "../../src/wire/envelope.js";
import { NatsServer } from "../fixtures/natsServer.js";
import { groupOf, openAgent, tempDir } from "../helpers.js";
import { testKeyOf } from "../identity.js";
import { mlsMessage } from "../transport/helpers.js";
import { expectOneWinnerAndConvergence } from "./raceCheck.js";
import { testRelayConfig } from "./relayConfig.js";
import { openAtRelay, openedChannel } from "./relayFixture.js";
import { TestLink } from "./testLink.js";

const CHANNEL = "acme/relay/cluster";
const PREFIX = `C${randomBytes(4).toString("hex")}`;
let servers: NatsServer[] = [];
let nodes: Relay[] = [];
let keyFile = "";
const links: TestLink[] = [];

async function startNode(): Promise<Relay> {
  const urls = servers.map((s) => s.url);
  const metrics = new RelayMetrics();
  const channelLog = await NatsChannelLog.open({ servers: urls, prefix: PREFIX, replicas: 3, credsFile: undefined }, { metrics: metrics.store, report: () => {}, welcomeGraceMs: 1000 });
  return Relay.start(testRelayConfig(tempDir("skytale-node-"), { store: { kind: "nats", servers: urls, prefix: PREFIX, replicas: 3, credsFile: undefined }, keyFile }), {
    channelLog,
    metrics,
    log: () => {},
  });
}

beforeAll(async () => {
  servers = await NatsServer.cluster(3);
  keyFile = join(tempDir(), "relay.key");
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startNode());
}, 120_000);

afterAll(async () => {
  links.splice(0).forEach((l) => l.close());
  await Promise.all(nodes.map((n) => n.close()));
});

/** How many Welcome intents left by dead nodes the live nodes finished with `outcome` (as /metrics shows it). */
async function finished(outcome: "won" | "lost"): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const text = node.metrics.render(undefined, true);
    total += Number(new RegExp(`skytale_relay_store_events_total\\{event="welcome_finished",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  }
  return total;
}

async function link(node: Relay, agent: string): Promise<TestLink> {
  const l = await TestLink.connect(node.url, node.relayKey.publicKey, agent);
  links.push(l);
  return l;
}

describe("three relay nodes on a three-server NATS cluster", () => {
  it("present one relay: one key, and the streams have three replicas", async () => {
    expect(new Set(nodes.map((n) => n.publicKeyBase64)).size).toBe(1);
    const health = await (await fetch(`${nodes[0]!.url.replace("ws:", "http:")}/healthz`)).text();
    expect(health).toMatch(/^ok\nstorage: nats connected \(nats-server 2\.\d+\.\d+, cluster skytale-test, streams \w+_CH etc\., 3 replicas\)/);
  });

  it("frames accepted by any node reach the subscribers on every node, each exactly once and in one order", async () => {
    const pubs = await Promise.all(nodes.map((n, i) => link(n, `pub${i}`)));
    const { channel } = await openedChannel(pubs[0]!);
    const subs = await Promise.all(nodes.map((n, i) => link(n, `sub${i}`)));
    for (const s of subs) expect(await s.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n })).toMatchObject({ type: "Ack", seq: 0n });
    const perNode = 60;
    const acks = await Promise.all(
      pubs.map((p) => Promise.all(p.requestPacked(Array.from({ length: perNode }, (): Envelope => ({ type: "Msg", id: 0n, body: new Uint8Array(Buffer.concat([mlsMessage(channel, 0n, 1, 0), randomBytes(200)])) }))))),
    );
    const seqs = acks.flat().map((a) => (a as EnvelopeOf<"Ack">).seq);
    expect([...seqs].sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 3 * perNode }, (_, i) => BigInt(i + 1)));
    const orders = [];
    for (const s of subs) {
      await s.waitFor((p) => p.length === 3 * perNode, 20_000);
      expect(s.pushed.map((e) => e.id)).toEqual(Array.from({ length: 3 * perNode }, (_, i) => BigInt(i + 1)));
      orders.push(s.pushed.map((e) => Buffer.from((e as EnvelopeOf<"Msg">).body).toString("hex")).join());
    }
    expect(new Set(orders).size).toBe(1);
  });

  it("20 racers spread over the three nodes commit on one epoch: one ack, 19 nacks, and MLS converges", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `racer${i}`);
    const [agents, stream] = await groupOf(CHANNEL, ...names);
    const groupId = (await agents[0]!.mls.channelInfo(CHANNEL)).groupId;
    const racers = await Promise.all(agents.map((a, i) => link(nodes[i % 3]!, a.name)));
    await openAtRelay(racers[0]!, stream); // seq 1: the commit that added the others
    await Promise.all(racers.map((l) => l.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n })));
    const commits = await Promise.all(agents.map((a) => a.mls.selfUpdate(CHANNEL)));
    const replies = await Promise.all(commits.map((c, i) => racers[i]!.request({ type: "GroupCommit", id: 0n, commit: c.commit, welcome: undefined, proof: c.proof })));
    await expectOneWinnerAndConvergence(CHANNEL, agents, racers, replies);
  });
});

describe("a node that dies while taking a commit with a Welcome", () => {
  /** Starts a node that SIGKILLs itself at `point`; resolves with its URL. */
  async function crashingNode(point: "welcomeAnnounced" | "commitLanded"): Promise<{ url: string; exited: Promise<unknown> }> {
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../fixtures/crashingRelayNode.ts"), servers.map((s) => s.url).join(","), PREFIX, keyFile, point], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise((r) => child.once("exit", r));
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve));
    return { url: `ws://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, exited };
  }

  /** A channel of `creator` and a commit adding `joiner`, sent to a crashing node, which dies. */
  async function commitThroughCrash(point: "welcomeAnnounced" | "commitLanded", joinerName: string) {
    const channel = `acme/cluster/${joinerName}`;
    const [[creator, member], stream] = await groupOf(channel, `creator-${joinerName}`, `member-${joinerName}`);
    const groupId = (await creator!.mls.channelInfo(channel)).groupId;
    // The channel as far as its first commit (seq 1), through a live node.
    await openAtRelay(await link(nodes[0]!, creator!.name), stream);
    const joiner = await openAgent(joinerName);
    const add = await creator!.mls.addMembers(channel, [await joiner.mls.createKeyPackage()]);
    const commit: Envelope = { type: "GroupCommit", id: 0n, commit: add.commit, welcome: { recipients: [testKeyOf(joinerName)], welcome: add.welcome! }, proof: add.proof };
    const node = await crashingNode(point);
    const doomed = await TestLink.connect(node.url, nodes[0]!.relayKey.publicKey, creator!.name);
    doomed.send({ ...commit, id: 1n });
    await node.exited;
    doomed.close();
    return { creator: creator!, member: member!, joiner, groupId, commit, channel };
  }

  it("after announcing the Welcome, before publishing the commit: another node lands the commit and delivers the Welcome; the retry is acknowledged", async () => {
    const won = await finished("won");
    const { joiner, groupId, commit } = await commitThroughCrash("welcomeAnnounced", "joiner-a");
    const inbox = await link(nodes[1]!, joiner.name);
    await inbox.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n });
    await inbox.waitFor((p) => p.some((e) => e.type === "GroupWelcome"), 20_000);
    expect(inbox.pushed.filter((e) => e.type === "GroupWelcome")).toMatchObject([{ channel: groupId, commitSeq: 2n }]);
    // The committer never heard; it sends the commit again to another node.
    const retry = await link(nodes[2]!, "creator-joiner-a");
    expect(await retry.request(commit)).toMatchObject({ type: "GroupAck", seq: 2n, epoch: 2n });
    await new Promise((r) => setTimeout(r, 1500));
    expect(inbox.pushed.filter((e) => e.type === "GroupWelcome")).toHaveLength(1);
    expect(await finished("won")).toBe(won + 1);
  });

  it("after the commit won, before the Welcome went out: another node delivers it, once", async () => {
    const won = await finished("won");
    const { joiner, groupId, commit } = await commitThroughCrash("commitLanded", "joiner-b");
    const observer = await link(nodes[0]!, "observer-b");
    expect(await observer.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n })).toMatchObject({ type: "Ack", seq: 2n });
    const inbox = await link(nodes[2]!, joiner.name);
    await inbox.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n });
    await inbox.waitFor((p) => p.some((e) => e.type === "GroupWelcome"), 20_000);
    const retry = await link(nodes[1]!, "creator-joiner-b");
    expect(await retry.request(commit)).toMatchObject({ type: "GroupAck", seq: 2n });
    await new Promise((r) => setTimeout(r, 1500));
    expect(inbox.pushed.filter((e) => e.type === "GroupWelcome")).toMatchObject([{ channel: groupId, commitSeq: 2n }]);
    expect(await finished("won")).toBe(won + 1);
  });

  it("after announcing the Welcome, while another member's commit takes the epoch: the Welcome is never delivered", async () => {
    const lost = await finished("lost");
    const { member, joiner, groupId, channel } = await commitThroughCrash("welcomeAnnounced", "joiner-c");
    // Before any node finishes the dead node's intent, another member commits on the same epoch.
    const update = await member.mls.selfUpdate(channel);
    const other = await link(nodes[0]!, member.name);
    expect(await other.request({ type: "GroupCommit", id: 0n, commit: update.commit, welcome: undefined, proof: update.proof })).toMatchObject({ type: "GroupAck", seq: 2n });
    const inbox = await link(nodes[1]!, joiner.name);
    await inbox.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n });
    // Past the grace period, a live node took the dead node's intent and found its place taken.
    for (let i = 0; i < 100 && (await finished("lost")) === lost; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await finished("lost")).toBe(lost + 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(inbox.pushed).toEqual([]);
    const observer = await link(nodes[2]!, "observer-c");
    expect(await observer.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n })).toMatchObject({ type: "Ack", seq: 2n });
  });
});
