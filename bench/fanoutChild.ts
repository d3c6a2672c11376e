// Child processes of bench/fanout.bench.ts, driven by JSON lines on stdin/stdout.
//   relay:   a skytale relay (cover off) in its own process; prints {"port", "key"}.
//   members: simulated agents, each a real MLS member with its own link to the relay. Commands:
//     {"cmd":"keys", names}                          → {"keys": [base64 KeyPackage MLSMessage]}
//     {"cmd":"join", welcome, url, key, groupId}     → {"ready": true, "joinMs"}
//     (then, for each message every member here decrypted) → {"done": index}
//     {"cmd":"stats"}                                → {"latencies", "decrypted", "wrong", "rss"}
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { emptyPskIndex, joinGroup, makePskIndex, processPrivateMessage, type ClientState } from "ts-mls";
import WebSocket from "ws";
import { createKeyPackage, type FreshKeyPackage } from "../src/mls/keyPackages.js";
import { decodeMessage, decodeWelcomeMessage } from "../src/mls/messages.js";
import { clientConfig, loadCiphersuite } from "../src/mls/suite.js";
import { DEFAULT_LIMITS } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";
import type { Envelope } from "../src/wire/envelope.js";
import { ClientHandshake } from "../src/wire/handshake.js";
import { LinkCodec } from "../src/wire/link.js";
import { LINK_REVISION, LINK_REVISION_HEADER } from "../src/wire/linkRevision.js";
import { testIdentity } from "../test/identity.js";

/** What the sender puts in each payload: message index and its send time (monotonic, shared by all processes). */
export const STAMP_BYTES = 12;

const out = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

async function runRelay(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "skytale-bench-fanout-relay-"));
  const relay = await Relay.start({
    host: "127.0.0.1", port: 0, dataDir: dir, authSecret: undefined, cover: { mode: "off", rate: 0 },
    retentionDays: 7, maxChannelBytes: 1 << 30, durability: "normal",
    limits: { ...DEFAULT_LIMITS, maxConnections: 20_000, framesPerSecond: 1_000_000, bytesPerSecond: 1 << 30, quotas: { ...DEFAULT_LIMITS.quotas, archiveBytes: 2 ** 50, welcomeRecipients: 1e9 } },
  });
  out({ port: relay.port, key: b64(relay.relayKey.publicKey) });
  process.stdin.resume();
  process.stdin.on("end", () => {
    void relay.close().then(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

/** One simulated member: its MLS state and its own link. */
interface Member {
  state: ClientState;
  codec: LinkCodec | undefined;
  ws: WebSocket | undefined;
}

async function connect(url: string, key: Uint8Array, agent: string, groupId: Uint8Array, onMsg: (e: Envelope) => void): Promise<{ ws: WebSocket; codec: LinkCodec }> {
  const ws = new WebSocket(`${url}/v1/link`, { perMessageDeflate: false, headers: { [LINK_REVISION_HEADER]: String(LINK_REVISION) } });
  ws.binaryType = "nodebuffer";
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const hs = new ClientHandshake(key);
  const reply = new Promise<Buffer>((resolve) => ws.once("message", (d: Buffer) => resolve(d)));
  ws.send(hs.hello);
  const keys = hs.finish(await reply);
  const codec = new LinkCodec(keys);
  let answer: ((e: Envelope) => void) | undefined;
  ws.on("message", (data: Buffer) => {
    for (const e of codec.read(data)) {
      if (e.type === "Msg") onMsg(e);
      else answer?.(e);
    }
  });
  const request = (e: Envelope) => new Promise<Envelope>((resolve) => {
    answer = resolve;
    for (const piece of codec.pieces(e)) ws.send(codec.seal(piece));
  });
  const identity = testIdentity(agent);
  const auth = await request({ type: "Auth", id: 1n, agent, key: identity.key, signature: await identity.prove(keys.binding), token: "" });
  if (auth.type !== "AuthOk") throw new Error(`auth refused for ${agent}`);
  const sub = await request({ type: "Subscribe", id: 2n, channel: groupId, fromSeq: 1n });
  if (sub.type !== "Ack") throw new Error(`subscribe refused for ${agent}`);
  return { ws, codec };
}

async function runMembers(): Promise<void> {
  const cs = await loadCiphersuite();
  const fresh = new Map<string, FreshKeyPackage>();
  const members: Member[] = [];
  const latencies: number[] = [];
  const remaining = new Map<number, number>();
  let decrypted = 0;
  let wrong = 0;
  // Each member's messages go through one promise chain, in relay order (as an agent's stream does).
  const deliver = async (member: Member, e: Extract<Envelope, { type: "Msg" }>) => {
    const message = decodeMessage(e.body);
    if (message.wireformat !== "mls_private_message") throw new Error("not a PrivateMessage");
    const result = await processPrivateMessage(member.state, message.privateMessage, makePskIndex(member.state, {}), cs);
    if (result.kind !== "applicationMessage") throw new Error("not an application message");
    member.state = result.newState;
    const arrived = process.hrtime.bigint();
    const payload = Buffer.from(result.message);
    const index = payload.readUInt32BE(0);
    const sent = payload.readBigUInt64BE(4);
    latencies.push(Number(arrived - sent) / 1e6);
    if (payload.subarray(STAMP_BYTES).some((b) => b !== (index & 0xff))) wrong++;
    decrypted++;
    const left = (remaining.get(index) ?? members.length) - 1;
    if (left === 0) {
      remaining.delete(index);
      out({ done: index });
    } else remaining.set(index, left);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    void (async () => {
      const command = JSON.parse(line) as { cmd: string; names?: string[]; welcome?: string; url?: string; key?: string; groupId?: string };
      if (command.cmd === "keys") {
        const now = Math.floor(Date.now() / 1000);
        const keys: string[] = [];
        for (const name of command.names!) {
          const sig = await cs.signature.keygen();
          const kp = await createKeyPackage({ name, signaturePublicKey: sig.publicKey, signaturePrivateKey: sig.signKey }, cs, now);
          fresh.set(name, kp);
          keys.push(b64(kp.stored.publicPackage));
        }
        out({ keys });
      } else if (command.cmd === "join") {
        const welcome = decodeWelcomeMessage(unb64(command.welcome!));
        const names = [...fresh.keys()];
        const first = fresh.get(names[0]!)!;
        const t0 = performance.now();
        // One full join per process (Welcome decryption, whole-tree validation); the other members
        // here start from that epoch's state at their own leaf, and from then on each ratchets
        // its own secret tree and decrypts every message itself.
        const joined = await joinGroup(welcome, first.keyPackage, first.privateKeys, emptyPskIndex, cs, undefined, undefined, clientConfig);
        const joinMs = performance.now() - t0;
        const leafOf = (name: string) => joined.ratchetTree.findIndex((n) => n?.nodeType === "leaf" && Buffer.from(n.leaf.signaturePublicKey).equals(Buffer.from(fresh.get(name)!.keyPackage.leafNode.signaturePublicKey))) / 2;
        const url = command.url!;
        const key = unb64(command.key!);
        const groupId = unb64(command.groupId!);
        for (const name of names) {
          const member: Member = {
            // States are immutable values (ts-mls copies what it changes, and nothing here zeroes
            // consumed secrets), so members can start from the same secret tree object.
            state: { ...joined, privatePath: { ...joined.privatePath, leafIndex: leafOf(name) } },
            codec: undefined,
            ws: undefined,
          };
          let chain = Promise.resolve();
          const link = await connect(url, key, name, groupId, (e) => {
            if (e.type !== "Msg") return;
            chain = chain.then(() => deliver(member, e));
          });
          member.codec = link.codec;
          member.ws = link.ws;
          members.push(member);
        }
        out({ ready: true, joinMs });
      } else if (command.cmd === "stats") {
        out({ latencies, decrypted, wrong, rss: process.memoryUsage().rss });
      }
    })().catch((error: unknown) => {
      process.stderr.write(`fanout member process: ${String(error)}\n`);
      process.exit(1);
    });
  });
  process.stdin.on("end", () => {
    members.forEach((m) => m.ws?.close());
    process.exit(0);
  });
}

if (process.argv[2] === "relay") await runRelay();
else if (process.argv[2] === "members") await runMembers();
