// One chaos-test agent: a real Agent (own SQLite data dir, real relay link) driven by the test
// over IPC. Everything the test checks afterwards is appended to files before the test hears of
// it, so a SIGKILL loses nothing the test was told: `<name>.received.jsonl` (every message
// receive() returned) and `<name>.seen.jsonl` (the sender data of every incoming MLS message).
import { createHash } from "node:crypto";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { Agent } from "../../src/agent/agent.js";
import type { SenderSeen } from "../../src/mls/mlsAgent.js";
import { MlsAgent } from "../../src/mls/mlsAgent.js";
import Database from "better-sqlite3";
import { AgentStore, DATABASE_FILE } from "../../src/store/agentStore.js";
import { didKeyOf } from "../../src/mls/didKey.js";
import { testIdentity, testKeyOf } from "../identity.js";
import type { DriverReply, DriverRequest, SeenRecord } from "./protocol.js";

const env = (key: string): string => {
  const value = process.env[key];
  if (value === undefined) throw new Error(`${key} is not set`);
  return value;
};
const name = env("CHAOS_NAME");
const dataDir = env("CHAOS_DIR");
const logDir = env("CHAOS_LOG");
const seenFile = join(logDir, `${name}.seen.jsonl`);
const receivedFile = join(logDir, `${name}.received.jsonl`);

function observe(seen: SenderSeen): void {
  const record: SeenRecord = {
    channel: seen.channel,
    epoch: Number(seen.epoch),
    ratchet: seen.contentType === "application" ? "application" : "handshake",
    leaf: seen.leafIndex,
    generation: seen.generation,
    members: seen.members,
    digest: createHash("sha256").update(seen.message.ciphertext).digest("hex"),
  };
  appendFileSync(seenFile, `${JSON.stringify(record)}\n`);
}

// The agent holds the test identity of its name (identity.ts), and its peers are its contacts,
// as colleagues who exchanged their did:keys are: they add each other by name.
const seed = AgentStore.open(dataDir);
if (seed.loadIdentity() === undefined) {
  const identity = testIdentity(name);
  seed.saveIdentity({ name, signaturePublicKey: identity.key, signaturePrivateKey: identity.seed });
}
seed.close();

const agent = await Agent.open({
  name,
  dataDir,
  relayUrl: env("CHAOS_RELAY_URL"),
  relayKey: new Uint8Array(Buffer.from(env("CHAOS_RELAY_KEY"), "base64url")),
  cover: { mode: "off", rate: 1 },
  sendTimeoutMs: 8000,
  observeSender: observe,
  // A small bound puts the drop-and-fetch-again path of the relay stream under the same faults.
  ...(process.env.CHAOS_BACKLOG_FRAMES ? { streamBacklog: { frames: Number(process.env.CHAOS_BACKLOG_FRAMES), bytes: 32 * 1024 * 1024 } } : {}),
  log: (line) => appendFileSync(join(logDir, `${name}.log`), `${new Date().toISOString()} ${line}\n`),
});

for (const peer of env("CHAOS_PEERS").split(",")) if (peer !== name) await agent.addContact(peer, { did: didKeyOf(testKeyOf(peer)) });

type Op = Exclude<DriverRequest, { op: "dieDuring" } | { op: "final" }>;

async function run(request: Op): Promise<unknown> {
  switch (request.op) {
    case "create":
      return agent.createChannel(request.channel).then((s) => ({ epoch: Number(s.epoch), members: s.members }));
    case "add":
      return agent.addMember(request.channel, { agent: request.agent }).then((s) => ({ epoch: Number(s.epoch), members: s.members }));
    case "remove":
      return agent.removeMember(request.channel, request.member).then((s) => ({ epoch: Number(s.epoch), members: s.members }));
    case "rotate":
      return agent.rotateKeys(request.channel).then((s) => ({ epoch: Number(s.epoch), members: s.members }));
    case "send":
      // A queued send is not acknowledged: the scenario counts only what the relay took.
      return agent.send(request.channel, request.text).then((r) => (r.status === "sent" ? { seq: r.seq } : { queued: true }));
    case "receive": {
      const { messages } = await agent.receive({ channel: request.channel, waitMs: request.waitMs, maxMessages: request.max });
      const lines = messages.map((m) => JSON.stringify({ text: m.message, sender: m.sender, seq: m.seq }));
      if (lines.length > 0) appendFileSync(receivedFile, `${lines.join("\n")}\n`);
      return { count: messages.length };
    }
    case "members": {
      const list = await agent.channels();
      const info = list.find((c) => c.channel === request.channel);
      return info === undefined ? undefined : { epoch: Number(info.epoch), members: info.members, unread: info.unread, connected: agent.relayStatus().connected };
    }
  }
}

/** Closes the agent and reads the channel's final state from its store, as a restart would. */
async function final(channel: string): Promise<unknown> {
  await agent.close();
  // Which channel seqs reached the inbox and were handed out: the store's own account.
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
  const inbox = db.prepare("SELECT seq, delivered FROM inbox WHERE channel = ? AND seq IS NOT NULL").all(channel) as { seq: number; delivered: number }[];
  db.close();
  const store = AgentStore.open(dataDir);
  try {
    const mls = await MlsAgent.open({ name, port: store });
    const delivered = inbox.filter((r) => r.delivered === 1).map((r) => r.seq);
    if (!mls.channels().includes(channel)) return { member: false, delivered };
    const info = await mls.channelInfo(channel);
    return { member: true, delivered, groupId: Buffer.from(info.groupId).toString("hex"), epoch: Number(info.epoch), authenticator: Buffer.from(info.epochAuthenticator).toString("hex"), members: info.members.map((m) => m.name) };
  } finally {
    store.close();
  }
}

/** Lets the event loop turn `hops` times (alternating microtasks and macrotasks), then dies. */
async function dieAfter(hops: number): Promise<never> {
  for (let i = 0; i < hops; i++) await (i % 2 === 0 ? Promise.resolve() : new Promise((r) => setImmediate(r)));
  process.kill(process.pid, "SIGKILL");
  return new Promise(() => undefined);
}

const reply = (message: DriverReply) => process.send?.(message);

process.on("message", (raw) => {
  const request = raw as DriverRequest & { id: number };
  const answer = async (): Promise<unknown> => {
    if (request.op === "final") return final(request.channel);
    if (request.op === "dieDuring") {
      void run(request.inner).catch(() => undefined);
      return dieAfter(request.hops);
    }
    return run(request);
  };
  answer().then(
    (result) => {
      reply({ id: request.id, ok: true, result: result ?? null });
      if (request.op === "final") process.exit(0);
    },
    (error: unknown) => reply({ id: request.id, ok: false, code: (error as { code?: string }).code ?? "internal", message: (error as Error).message }),
  );
});
process.on("disconnect", () => process.exit(0));
reply({ id: 0, ok: true, result: "ready" });
