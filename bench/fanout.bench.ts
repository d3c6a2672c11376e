// npm run bench:fanout — one channel with 10, 100 and 1,000 members. The relay runs in its own
// process; the members are simulated agents spread over a few child processes
// (bench/fanoutChild.ts), each a real MLS member with its own link that decrypts every message
// itself. One sender (this process) encrypts 1 KiB messages with bucket padding. Measures
// deliveries/s at the relay (messages × members per second, every member decrypting) and each
// member's send→deliver latency including MLS decryption. BENCH_QUICK=1: 10 and 100 members, few
// messages. Writes the bench:fanout section.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { pathToFileURL } from "node:url";
import { createApplicationMessage, createCommit, createGroup, encodeMlsMessage, type ClientState } from "ts-mls";
import { commitKeySeed } from "../src/mls/commits.js";
import { channelIdFor, channelOpenBytes } from "../src/wire/channelOpen.js";
import { commitKeyPair, proveCommit } from "../src/wire/commitProof.js";
import { testIdentity } from "../test/identity.js";
import { TestLink } from "../test/relay/testLink.js";
import { createKeyPackage } from "../src/mls/keyPackages.js";
import { decodeKeyPackageMessage, encodePrivateMessage, encodeWelcomeMessage } from "../src/mls/messages.js";
import { withBucketPadding } from "../src/mls/padding.js";
import { clientConfig, loadCiphersuite } from "../src/mls/suite.js";
import { loadLine, machineLine, replaceSection } from "./report.js";
import { exitIfStuck, mib, percentile, quick, table } from "./scaleKit.js";

const CHILD = join(import.meta.dirname, "fanoutChild.ts");
const PAYLOAD_BYTES = 1024;
/** Messages the sender keeps unacknowledged in the throughput phase. */
const WINDOW = 16;

interface Child {
  readonly process: ChildProcess;
  send(value: unknown): void;
  next(): Promise<Record<string, unknown>>;
  /** Resolves once this child has reported `done` for every index in [0, count). */
  doneUpTo(count: number): Promise<void>;
  stop(): void;
}

function startChild(mode: "relay" | "members"): Child {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, mode], { stdio: ["pipe", "pipe", "inherit"] });
  const lines: Interface = createInterface({ input: child.stdout! });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((v: Record<string, unknown>) => void)[] = [];
  const done = new Set<number>();
  let doneWatch: (() => void) | undefined;
  lines.on("line", (line) => {
    const value = JSON.parse(line) as Record<string, unknown>;
    if (typeof value.done === "number") {
      done.add(value.done);
      doneWatch?.();
      return;
    }
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(value);
    else queue.push(value);
  });
  return {
    process: child,
    send: (value) => child.stdin!.write(`${JSON.stringify(value)}\n`),
    next: () => new Promise((resolve) => {
      const value = queue.shift();
      if (value !== undefined) resolve(value);
      else waiters.push(resolve);
    }),
    doneUpTo: (count) => new Promise((resolve) => {
      const check = () => {
        for (let i = 0; i < count; i++) if (!done.has(i)) return;
        doneWatch = undefined;
        resolve();
      };
      doneWatch = check;
      check();
    }),
    stop: () => child.stdin!.end(),
  };
}

export interface FanoutResult {
  readonly members: number;
  readonly processes: number;
  readonly messages: number;
  readonly deliveriesPerSecond: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  /** Every member decrypted every message, with the right content. */
  readonly allDelivered: boolean;
  readonly decrypted: number;
  readonly joinMs: number;
  readonly memberRss: number;
}

function payload(index: number): Uint8Array {
  const p = Buffer.alloc(PAYLOAD_BYTES, index & 0xff);
  p.writeUInt32BE(index, 0);
  p.writeBigUInt64BE(process.hrtime.bigint(), 4);
  return p;
}

/**
 * A channel of `members` members (plus the sender) on a relay in its own process, members spread
 * over `processes` children. `latencyMessages` are sent one at a time (each after every member has
 * it), then `throughputMessages` back to back with WINDOW in flight.
 */
export async function measureFanout(members: number, processes: number, latencyMessages: number, throughputMessages: number): Promise<FanoutResult> {
  const cs = await loadCiphersuite();
  const relay = startChild("relay");
  const children = Array.from({ length: processes }, () => startChild("members"));
  try {
    const { port, key } = (await relay.next()) as { port: number; key: string };
    const url = `ws://127.0.0.1:${port}`;
    const relayKey = new Uint8Array(Buffer.from(key, "base64"));
    const names = Array.from({ length: members }, (_, i) => `m${i}`);
    const perChild = children.map((_, c) => names.filter((_, i) => i % processes === c));
    children.forEach((child, c) => child.send({ cmd: "keys", names: perChild[c] }));
    const keyPackages = (await Promise.all(children.map((c) => c.next()))).flatMap((r) => (r.keys as string[]).map((k) => decodeKeyPackageMessage(new Uint8Array(Buffer.from(k, "base64")))));
    const identity = testIdentity("sender");
    const own = await createKeyPackage({ name: "sender", signaturePublicKey: identity.key, signaturePrivateKey: identity.seed }, cs, Math.floor(Date.now() / 1000));
    // The relay accepts a channel only from its creator: the id made from the sender's key, opened by it.
    const nonce = new Uint8Array(16).fill(7);
    const groupId = channelIdFor(identity.key, nonce);
    const created = await createGroup(groupId, own.keyPackage, own.privateKeys, [], cs, clientConfig);
    const add = await createCommit({ state: created, cipherSuite: cs }, {
      extraProposals: keyPackages.map((keyPackage) => ({ proposalType: "add" as const, add: { keyPackage } })),
      ratchetTreeExtension: true,
    });
    const [seed0, seed1] = [await commitKeySeed(created, cs), await commitKeySeed(add.newState, cs)];
    const commitKey = commitKeyPair(seed0).publicKey;
    const opening = { channel: groupId, nonce, commitKey, signature: identity.sign(channelOpenBytes(groupId, nonce, commitKey)) };
    const addCommit = encodeMlsMessage(add.commit);
    let sender: ClientState = add.newState;
    const welcome = Buffer.from(encodeWelcomeMessage(add.welcome!)).toString("base64");
    children.forEach((child) => child.send({ cmd: "join", welcome, url, key, groupId: Buffer.from(groupId).toString("base64") }));
    const ready = await Promise.all(children.map((c) => c.next()));
    const joinMs = Math.max(...ready.map((r) => r.joinMs as number));
    const link = await TestLink.connect(url, relayKey, "sender");
    if ((await link.request({ type: "ChannelOpen", id: 0n, ...opening })).type !== "Ack") throw new Error("the relay refused the channel's opening");
    const proof = proveCommit(groupId, 0n, addCommit, seed0, seed1);
    if ((await link.request({ type: "GroupCommit", id: 0n, commit: addCommit, welcome: undefined, proof })).type !== "GroupAck") throw new Error("the relay refused the add");
    const padded = withBucketPadding(cs, groupId, sender.groupContext.epoch);
    // Encryptions run one at a time (each needs the state the previous one left); requests overlap.
    let encrypting = Promise.resolve();
    const sendOne = async (index: number) => {
      const encrypted = encrypting.then(() => createApplicationMessage(sender, payload(index), padded));
      encrypting = encrypted.then((r) => void (sender = r.newState));
      const result = await encrypted;
      const answer = await link.request({ type: "Msg", id: 0n, body: encodePrivateMessage(result.privateMessage) });
      if (answer.type !== "Ack") throw new Error(`relay refused message ${index}: ${answer.type}`);
    };
    for (let i = 0; i < latencyMessages; i++) {
      await sendOne(i);
      await Promise.all(children.map((c) => c.doneUpTo(i + 1)));
    }
    const total = latencyMessages + throughputMessages;
    const start = process.hrtime.bigint();
    let next = latencyMessages;
    const inFlight = new Set<Promise<void>>();
    while (next < total) {
      const p: Promise<void> = sendOne(next++).then(() => void inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await Promise.all(children.map((c) => c.doneUpTo(total)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    link.close();
    children.forEach((c) => c.send({ cmd: "stats" }));
    const stats = (await Promise.all(children.map((c) => c.next()))) as { latencies: number[]; decrypted: number; wrong: number; rss: number }[];
    // Latency from the one-at-a-time phase only: the throughput phase measures queueing.
    const latencies = stats.flatMap((s) => s.latencies.slice(0, latencyMessages * (s.decrypted / total)));
    const decrypted = stats.reduce((sum, s) => sum + s.decrypted, 0);
    return {
      members,
      processes,
      messages: total,
      deliveriesPerSecond: (throughputMessages * members) / seconds,
      latencyP50: percentile(latencies, 0.5),
      latencyP99: percentile(latencies, 0.99),
      allDelivered: decrypted === members * total && stats.every((s) => s.wrong === 0),
      decrypted,
      joinMs,
      memberRss: stats.reduce((sum, s) => sum + s.rss, 0),
    };
  } finally {
    children.forEach((c) => c.stop());
    relay.stop();
  }
}

async function main(): Promise<void> {
  const runs: [number, number, number, number][] = quick
    ? [[10, 2, 10, 20], [100, 2, 5, 10]]
    : [[10, 2, 200, 1000], [100, 4, 50, 300], [1000, 4, 20, 60]];
  const rows: Record<string, string>[] = [];
  for (const [members, processes, latencyMessages, throughputMessages] of runs) {
    const r = await measureFanout(members, processes, latencyMessages, throughputMessages);
    if (!r.allDelivered) throw new Error(`${members} members: ${r.decrypted} of ${members * r.messages} deliveries decrypted correctly`);
    rows.push({
      members: String(members),
      "member processes": String(processes),
      messages: `${latencyMessages} + ${throughputMessages}`,
      "deliveries/s (msgs/s × members)": Math.round(r.deliveriesPerSecond).toString(),
      "msgs/s": (r.deliveriesPerSecond / members).toFixed(1),
      "latency p50 ms": r.latencyP50.toFixed(2),
      "latency p99 ms": r.latencyP99.toFixed(2),
      "all decrypted": r.allDelivered ? `yes (${r.decrypted})` : "NO",
      "join ms (one per process)": r.joinMs.toFixed(0),
      "member processes RSS MiB": mib(r.memberRss),
    });
    console.log(table(rows));
  }
  const body = [
    `Command: \`npm run bench:fanout\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()} ${loadLine()} Relay, sender and member processes all share the 2 cores.`,
    "",
    "One channel; a relay (cover off) in its own process; one sender in the benchmark process encrypting 1 KiB messages (bucket padding: one 2048-byte frame each); the members spread over child processes, each with its own link (handshake, link AEAD) that decrypts every message with its own MLS state (ts-mls on our node:crypto provider, in memory, no store). Each process joins once from the Welcome (whole-tree validation); its other members start from that epoch's state (the same immutable value) at their own leaf, then each ratchets its own secret tree.",
    "Latency: send→decrypted at each member (monotonic clock shared by the processes), from the first messages, sent one at a time (the next once every member has the previous); members in one process queue behind each other, which is part of the figure. Deliveries/s: the rest sent back to back (16 in flight), until every member decrypted all.",
    "",
    table(rows),
  ].join("\n");
  replaceSection("bench:fanout", "## Fan-out (`npm run bench:fanout`)", body);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  exitIfStuck("bench:fanout", 15);
  await main();
}
