// npm run bench:mls — ts-mls's default crypto provider against our node:crypto provider, in one
// run on one machine, plus the persisted round trip through MlsAgent and the SQLite store.
// Writes its table into docs/benchmarks.md between the bench:mls markers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultCryptoProvider,
  emptyPskIndex,
  generateKeyPackageWithKey,
  joinGroup,
  makePskIndex,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientState,
  type CryptoProvider,
  type KeyPackage,
  type PrivateKeyPackage,
} from "ts-mls";
import { nodeCryptoProvider } from "../src/mls/crypto/nodeProvider.js";
import { credentialFor } from "../src/mls/identity.js";
import { CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION } from "../src/mls/keyPackages.js";
import { encodeKeyPackageMessage } from "../src/mls/messages.js";
import { MlsAgent } from "../src/mls/mlsAgent.js";
import { clientConfig, loadCiphersuite } from "../src/mls/suite.js";
import { AgentStore } from "../src/store/agentStore.js";
import { machineLine, median, rate, replaceSection, timeMs } from "./report.js";

const PAYLOAD = new Uint8Array(1024).fill(0x61);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1000);
const NOW = BigInt(Math.floor(Date.now() / 1000));

const defaults = defaultCapabilities();
const capabilities = { ...defaults, extensions: [...defaults.extensions, CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION] };

interface Member {
  keyPackage: KeyPackage;
  privateKeys: PrivateKeyPackage;
}

async function member(cs: CiphersuiteImpl, name: string): Promise<Member> {
  const keys = await cs.signature.keygen();
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credentialFor(name, keys.publicKey), capabilities, { notBefore: NOW - 60n, notAfter: NOW + 3600n }, [],
    { signKey: keys.signKey, publicKey: keys.publicKey }, cs,
  );
  return { keyPackage: publicPackage, privateKeys: privatePackage };
}

/** A group of `size` members built with one commit; returns the creator's and one joiner's state. */
async function groupOf(cs: CiphersuiteImpl, size: number): Promise<{ creator: ClientState; joiner: ClientState }> {
  const creatorKp = await member(cs, "creator");
  const others = await Promise.all(Array.from({ length: size - 1 }, (_, i) => member(cs, `m${i}`)));
  const creator = await createGroup(new Uint8Array(12).fill(1), creatorKp.keyPackage, creatorKp.privateKeys, [], cs, clientConfig);
  const add = await createCommit(
    { state: creator, cipherSuite: cs },
    { extraProposals: others.map((o) => ({ proposalType: "add" as const, add: { keyPackage: o.keyPackage } })), ratchetTreeExtension: true },
  );
  const first = others[0]!;
  const joiner = await joinGroup(add.welcome!, first.keyPackage, first.privateKeys, emptyPskIndex, cs, undefined, undefined, clientConfig);
  return { creator: add.newState, joiner };
}

async function decryptAll(state: ClientState, messages: Parameters<typeof processPrivateMessage>[1][], cs: CiphersuiteImpl) {
  for (const m of messages) state = (await processPrivateMessage(state, m, makePskIndex(state, {}), cs)).newState;
  return state;
}

async function providerRow(label: string, provider: CryptoProvider): Promise<Record<string, string>> {
  const cs = await loadCiphersuite(provider);
  const kpCount = 200;
  const kpMs = await timeMs(async () => {
    for (let i = 0; i < kpCount; i++) await member(cs, "k");
  });
  let { creator: sender, joiner: receiver } = await groupOf(cs, 2);
  // Warm the JIT for this provider's code paths before anything is timed.
  for (let i = 0; i < 200; i++) {
    const r = await createApplicationMessage(sender, PAYLOAD, cs);
    sender = r.newState;
    receiver = (await processPrivateMessage(receiver, r.privateMessage, makePskIndex(receiver, {}), cs)).newState;
  }
  const sent: Parameters<typeof processPrivateMessage>[1][] = [];
  const encMs = await timeMs(async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const r = await createApplicationMessage(sender, PAYLOAD, cs);
      sender = r.newState;
      sent.push(r.privateMessage);
    }
  });
  const decMs = await timeMs(async () => {
    receiver = await decryptAll(receiver, sent, cs);
  });
  const roundMs = await timeMs(async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const r = await createApplicationMessage(sender, PAYLOAD, cs);
      sender = r.newState;
      receiver = (await processPrivateMessage(receiver, r.privateMessage, makePskIndex(receiver, {}), cs)).newState;
    }
  });
  const row: Record<string, string> = {
    provider: label,
    "key packages/s": rate(kpCount, kpMs),
    "1 KiB encrypt/s": rate(MESSAGES, encMs),
    "1 KiB decrypt/s": rate(MESSAGES, decMs),
    "encrypt+decrypt/s": rate(MESSAGES, roundMs),
  };
  for (const size of [10, 100]) {
    const { creator, joiner } = await groupOf(cs, size);
    const create: number[] = [];
    const process: number[] = [];
    for (let i = 0; i < 5; i++) {
      const newcomer = await member(cs, `n${i}`);
      let commit!: Awaited<ReturnType<typeof createCommit>>;
      create.push(await timeMs(async () => {
        commit = await createCommit({ state: creator, cipherSuite: cs }, { extraProposals: [{ proposalType: "add", add: { keyPackage: newcomer.keyPackage } }], ratchetTreeExtension: true });
      }));
      if (commit.commit.wireformat !== "mls_private_message") throw new Error("expected a private commit");
      const pm = commit.commit.privateMessage;
      process.push(await timeMs(() => processPrivateMessage(joiner, pm, makePskIndex(joiner, {}), cs)));
    }
    row[`add 1 at ${size}: commit ms`] = median(create).toFixed(1);
    row[`add 1 at ${size}: process ms`] = median(process).toFixed(1);
  }
  return row;
}

/** Receive through MlsAgent + AgentStore (decrypt, encode state, seal, one SQLite transaction). */
async function persistedRoundTrip(label: string, provider: CryptoProvider, members: number): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), "skytale-bench-"));
  try {
    const cs = await loadCiphersuite(provider);
    const stores = [AgentStore.open(join(dir, "a")), AgentStore.open(join(dir, "b"))];
    const [alice, bob] = await Promise.all([
      MlsAgent.open({ name: "alice", port: stores[0]!, cipherSuite: cs }),
      MlsAgent.open({ name: "bob", port: stores[1]!, cipherSuite: cs }),
    ]);
    const channel = "bench/mls/roundtrip";
    await alice!.createChannel(channel);
    const others = await Promise.all(Array.from({ length: members - 2 }, (_, i) => member(cs, `m${i}`)));
    const add = await alice!.addMembers(channel, [await bob!.createKeyPackage(), ...others.map((o) => encodeKeyPackageMessage(o.keyPackage))]);
    await alice!.confirmCommit(channel);
    await bob!.join(add.welcome!);
    const count = Math.min(MESSAGES, 500);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < count; i++) sent.push(await alice!.encrypt(channel, PAYLOAD));
    const each: number[] = [];
    for (let i = 0; i < count; i++) each.push(await timeMs(() => bob!.receive(channel, sent[i]!, i)));
    const encrypt: number[] = [];
    for (let i = 0; i < 100; i++) encrypt.push(await timeMs(() => alice!.encrypt(channel, PAYLOAD)));
    stores.forEach((s) => s.close());
    return {
      provider: label,
      members: String(members),
      "receive p50 ms": median(each).toFixed(2),
      "receive p99 ms": percentile(each, 0.99).toFixed(2),
      "encrypt+store p50 ms": median(encrypt).toFixed(2),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function table(rows: Record<string, string>[]): string {
  const headers = Object.keys(rows[0]!);
  return [
    `| ${headers.join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${headers.map((h) => r[h]).join(" | ")} |`),
  ].join("\n");
}

function ratioRow(base: Record<string, string>, ours: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { provider: "ratio (ours / default)" };
  for (const [k, v] of Object.entries(ours)) {
    if (k === "provider") continue;
    const r = Number(v) / Number(base[k]);
    // rates: higher is better; times: lower is better, so show default/ours as the speed-up
    out[k] = `${(k.endsWith("ms") ? 1 / r : r).toFixed(1)}×`;
  }
  return out;
}

async function main(): Promise<void> {
  const base = await providerRow("ts-mls default (WebCrypto)", defaultCryptoProvider);
  const ours = await providerRow("skytale node:crypto", nodeCryptoProvider);
  const persisted = [
    await persistedRoundTrip("ts-mls default (WebCrypto)", defaultCryptoProvider, 50),
    await persistedRoundTrip("skytale node:crypto", nodeCryptoProvider, 2),
    await persistedRoundTrip("skytale node:crypto", nodeCryptoProvider, 50),
  ];
  const body = [
    `Command: \`npm run bench:mls\` (${MESSAGES} messages of 1 KiB per measurement). ${machineLine()}`,
    "",
    "Raw ts-mls 1.6.4 operations, suite 0x0001. Speed-ups are higher-is-better for both rates and times.",
    "",
    table([base, ours, ratioRow(base, ours)]),
    "",
    "Persisted round trip through `MlsAgent` and `AgentStore` (group state cached in memory; each receive",
    "decrypts, encodes the new state, seals it with AES-256-GCM and commits one SQLite transaction with",
    "`synchronous=FULL`, plaintext into the inbox and the cursor with it):",
    "",
    table(persisted),
  ].join("\n");
  console.log(body);
  replaceSection("bench:mls", "## MLS core (`npm run bench:mls`)", body);
}

await main();
