// A chaos run: agents in one channel send and receive while the relay and the agents are
// SIGKILLed and restarted at random and members are removed and added again. Everything random
// comes from one seeded generator (process scheduling still varies from run to run).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMessage } from "../../src/mls/messages.js";
import { readMlsRouting } from "../../src/wire/mlsHeader.js";
import { TestLink } from "../relay/testLink.js";
import { checkRun, type ArchiveFrame, type ChaosReport, type SendRecord } from "./checks.js";
import { DriverGone, DriverHandle, sleep } from "./cluster.js";
import { ClusterRelay, SingleRelay, type RelayFleet } from "./relayFleet.js";
import type { DriverReply, DriverRequest, FinalState, ReceivedRecord, SeenRecord } from "./protocol.js";
import { mulberry32 } from "../../analysis/prng.js";

export interface ChaosOptions {
  readonly root: string;
  readonly seed: number;
  /** Acknowledged messages to reach before the faults stop. */
  readonly messages: number;
  readonly agents: number;
  /** The relay (a relay node) is killed after a pause drawn from this range (ms), and is down for up to `downMs`. */
  readonly relayKillMs: readonly [number, number];
  /**
   * Three relay nodes on a three-server NATS cluster instead of one relay on SQLite; one NATS
   * server is killed after a pause drawn from `natsKillMs`, and down for up to `downMs`.
   */
  readonly cluster?: { readonly natsKillMs: readonly [number, number] };
  readonly agentKillMs: readonly [number, number];
  readonly membershipMs: readonly [number, number];
  readonly downMs: number;
  /** The faults stop at this point even if fewer messages were acknowledged. */
  readonly maxMs: number;
  /**
   * The messages are spread over at least this long (ms), so that every kind of fault has time to
   * strike however fast the machine is; 0 sends as fast as the agents allow.
   */
  readonly minMs?: number;
  readonly log?: (line: string) => void;
}

export interface ChaosStats {
  readonly seed: number;
  readonly acked: number;
  readonly attempted: number;
  /** Acked sends that shared their MLS message (their seq) with another acked send: packed. */
  readonly packed: number;
  readonly relayKills: number;
  readonly natsKills: number;
  readonly agentKills: number;
  readonly killsDuringOps: number;
  readonly membershipChanges: number;
  readonly finalEpoch: number;
  readonly durationMs: number;
  readonly report: ChaosReport;
}

const CHANNEL = "chaos/run/main";

export async function runChaos(options: ChaosOptions): Promise<ChaosStats> {
  const relay: RelayFleet = options.cluster === undefined ? new SingleRelay(options.root) : new ClusterRelay(join(options.root, "cluster"));
  const drivers: DriverHandle[] = [];
  try {
    return await run(options, relay, drivers);
  } finally {
    // A failed run leaves no process behind.
    await Promise.all([relay.stop(), ...drivers.map((d) => d.kill())]);
  }
}

async function run(options: ChaosOptions, relay: RelayFleet, drivers: DriverHandle[]): Promise<ChaosStats> {
  const started = Date.now();
  const rng = mulberry32(options.seed);
  const between = ([lo, hi]: readonly [number, number]) => lo + rng() * (hi - lo);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const log = options.log ?? (() => undefined);
  const logDir = join(options.root, "logs");
  mkdirSync(logDir, { recursive: true });

  await relay.start();
  const names = Array.from({ length: options.agents }, (_, i) => `a${i}`);
  for (const name of names) drivers.push(new DriverHandle(name, join(options.root, name), logDir, relay, names));
  await Promise.all(drivers.map((d) => d.start()));

  const call = async (d: DriverHandle, request: DriverRequest): Promise<DriverReply | undefined> => {
    try {
      return await d.call(request);
    } catch (error) {
      if (error instanceof DriverGone) return undefined;
      throw error;
    }
  };
  const must = async (d: DriverHandle, request: DriverRequest): Promise<unknown> => {
    for (let attempt = 0; ; attempt++) {
      const reply = await call(d, request);
      if (reply?.ok) return reply.result;
      if (attempt > 100) throw new Error(`${d.name} ${request.op} failed: ${reply ? `${reply.code}: ${reply.message}` : "driver gone"}\n${d.errors}`);
      await sleep(200);
    }
  };

  // Setup without faults: a0 creates the channel and adds everyone through the directory.
  await must(drivers[0]!, { op: "create", channel: CHANNEL });
  for (const d of drivers.slice(1)) await must(drivers[0]!, { op: "add", channel: CHANNEL, agent: d.name });
  for (const d of drivers) {
    for (let i = 0; (await must(d, { op: "members", channel: CHANNEL })) === null; i++) {
      if (i > 200) throw new Error(`${d.name} never joined`);
      await sleep(100);
    }
  }
  log(`setup done in ${Date.now() - started} ms`);
  // Pacing and the faults' deadline count from here: a slow setup (a NATS cluster forming) takes none of their time.
  const sending = Date.now();

  let members = new Set(drivers.map((d) => d.name));
  const sends: SendRecord[] = [];
  let acked = 0;
  let faulting = true;
  let receiving = true;
  let killsDuringOps = 0;
  let membershipChanges = 0;
  const restarting = new Set<string>();
  const faultsUntil = sending + options.maxMs;
  const faultsOn = () => faulting && acked < options.messages && Date.now() < faultsUntil;

  const refreshMembers = async () => {
    for (const d of drivers) {
      if (!members.has(d.name) || !d.up) continue;
      const reply = await call(d, { op: "members", channel: CHANNEL });
      const view = reply?.ok ? (reply.result as { members: string[] } | null) : undefined;
      if (view) {
        members = new Set(view.members);
        return;
      }
    }
  };

  const senders = drivers.map(async (d) => {
    let n = 0;
    while (faultsOn()) {
      if (!d.up || !members.has(d.name) || restarting.has(d.name)) {
        await sleep(50);
        continue;
      }
      // Pace: the k-th acknowledged message is not sent before k/messages of minMs has passed.
      const due = sending + ((options.minMs ?? 0) * acked) / options.messages;
      if (Date.now() < due) {
        await sleep(Math.min(50, due - Date.now()));
        continue;
      }
      // Now and then a burst of overlapping sends, which the agent packs into one MLS message.
      const burst = rng() < 0.2 ? 2 + Math.floor(rng() * 4) : 1;
      const texts = Array.from({ length: burst }, () => `${d.name}#${n++}`);
      const replies = await Promise.all(texts.map((text) => call(d, { op: "send", channel: CHANNEL, text })));
      // Acked: the relay took it (a seq); a send answered "queued" or failed may or may not arrive.
      const seqs = replies.map((reply) => (reply?.ok === true ? (reply.result as { seq?: number }).seq : undefined));
      seqs.forEach((seq, i) => {
        sends.push({ text: texts[i]!, sender: d.name, acked: seq !== undefined, seq });
        if (seq !== undefined) acked++;
      });
      if (seqs.some((seq) => seq === undefined)) await sleep(20);
    }
  });

  const receivers = drivers.map(async (d) => {
    while (receiving) {
      if (!d.up) {
        await sleep(50);
        continue;
      }
      const reply = await call(d, { op: "receive", channel: CHANNEL, waitMs: 300, max: 2000 });
      if (reply === undefined || !reply.ok) await sleep(100);
    }
  });

  const relayFaults = (async () => {
    for (;;) {
      await sleep(between(options.relayKillMs));
      if (!faultsOn()) return;
      const which = await relay.killRelay(pick, rng() * options.downMs);
      log(`${which} killed and restarted (${relay.kills})`);
    }
  })();

  const natsFaults = (async () => {
    const kill = relay.killNats;
    for (;;) {
      if (options.cluster === undefined || kill === undefined) return;
      await sleep(between(options.cluster.natsKillMs));
      if (!faultsOn()) return;
      const which = await kill(pick, rng() * options.downMs);
      log(`${which} killed and restarted (${relay.natsKills})`);
    }
  })();

  const agentFaults = (async () => {
    for (;;) {
      await sleep(between(options.agentKillMs));
      if (!faultsOn()) return;
      const d = pick(drivers.filter((x) => x.up));
      restarting.add(d.name);
      const mode = rng();
      const hops = Math.floor(rng() * 80);
      if (mode < 0.4) {
        await d.kill();
      } else {
        // Die in the middle of an operation: somewhere between building, persisting and sending.
        const inner: DriverRequest = mode < 0.8 ? { op: "send", channel: CHANNEL, text: `${d.name}!${killsDuringOps}` } : { op: "rotate", channel: CHANNEL };
        if (inner.op === "send") sends.push({ text: inner.text, sender: d.name, acked: false, seq: undefined });
        killsDuringOps++;
        d.kills++;
        void call(d, { op: "dieDuring", inner: inner as Extract<DriverRequest, { op: "send" | "rotate" }>, hops });
        await d.exited();
      }
      await sleep(rng() * options.downMs);
      await d.start();
      restarting.delete(d.name);
      log(`${d.name} killed (${mode < 0.4 ? "idle" : `during an operation, after ${hops} hops`}) and restarted`);
    }
  })();

  const membership = (async () => {
    for (;;) {
      await sleep(between(options.membershipMs));
      if (!faultsOn()) return;
      await refreshMembers();
      const inside = drivers.filter((d) => members.has(d.name) && d.up);
      const outside = drivers.filter((d) => !members.has(d.name));
      if (inside.length === 0) continue;
      const actor = pick(inside);
      let request: DriverRequest;
      if (outside.length > 0 && (rng() < 0.6 || inside.length <= 2)) request = { op: "add", channel: CHANNEL, agent: pick(outside).name };
      else if (inside.length > 2) request = { op: "remove", channel: CHANNEL, member: pick(drivers.filter((x) => members.has(x.name) && x !== actor)).name };
      else request = { op: "rotate", channel: CHANNEL };
      const reply = await call(actor, request);
      if (reply?.ok) membershipChanges++;
      log(`${actor.name} ${request.op} ${"agent" in request ? request.agent : "member" in request ? request.member : ""}: ${reply?.ok ? "ok" : reply ? reply.code : "actor died"}`);
      await refreshMembers();
    }
  })();

  await Promise.all([...senders, relayFaults, natsFaults, agentFaults, membership]);
  faulting = false;
  log(`faults stopped: ${acked} acked, ${relay.kills} relay kills`);
  await relay.restore();
  await Promise.all(drivers.filter((d) => !d.up).map((d) => d.start()));
  restarting.clear();

  // Quiet: wait until every agent that holds the channel is linked to the relay (one restarted
  // while the relay was down may still be in its reconnect backoff, up to 30 s, and would look
  // quiet while it has not read the rest), at one epoch, with nothing unread.
  let finalEpoch = -1;
  // If they never do, the checks below say how they differ.
  for (let stable = 0, i = 0; stable < 3 && i < 120; i++) {
    await sleep(500);
    const views = await Promise.all(drivers.map(async (d) => (await must(d, { op: "members", channel: CHANNEL })) as { epoch: number; unread: number; connected: boolean } | null));
    const epochs = new Set(views.filter((v) => v !== null).map((v) => v!.epoch));
    const unread = views.reduce((sum, v) => sum + (v?.unread ?? 0), 0);
    const linked = views.every((v) => v === null || v.connected);
    stable = epochs.size === 1 && unread === 0 && linked ? stable + 1 : 0;
    finalEpoch = epochs.size === 1 ? [...epochs][0]! : -1;
  }
  receiving = false;
  await Promise.all(receivers);

  const finals = new Map<string, FinalState>();
  for (const d of drivers) finals.set(d.name, (await must(d, { op: "final", channel: CHANNEL })) as FinalState);
  const groupId = [...finals.values()].find((f) => f.member)?.groupId;
  const archive = groupId === undefined ? [] : await readArchive(relay.urls[0]!, relay.key, groupId);
  // Every node of a cluster serves the same archive.
  const otherNodes = groupId === undefined ? [] : await Promise.all(relay.urls.slice(1).map((url) => readArchive(url, relay.key, groupId)));
  await relay.stop();

  const readLines = <T>(file: string): T[] => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as T) : []);
  const received = new Map(drivers.map((d) => [d.name, readLines<ReceivedRecord>(join(logDir, `${d.name}.received.jsonl`))]));
  const seen = new Map(drivers.map((d) => [d.name, readLines<SeenRecord>(join(logDir, `${d.name}.seen.jsonl`))]));
  const records = { sends, received, seen, archive, finals };
  // Kept beside the logs, so a failing run can be checked again (CHAOS_ROOT keeps the dir).
  writeFileSync(join(options.root, "records.json"), JSON.stringify({ ...records, received: [...received], seen: [...seen], finals: [...finals] }));
  const report = checkRun(records);
  const digestsOf = (frames: readonly ArchiveFrame[]) => frames.map((f) => `${f.seq}:${f.type}:${f.digest ?? ""}`).join(",");
  otherNodes.forEach((frames, i) => {
    if (digestsOf(frames) !== digestsOf(archive)) report.violations.push({ kind: "archives_differ", detail: `relay node ${i + 1} serves another archive than node 0 (${frames.length} and ${archive.length} frames)` });
  });
  return {
    seed: options.seed,
    acked,
    attempted: sends.length,
    packed: packedSends(sends),
    relayKills: relay.kills,
    natsKills: relay.natsKills,
    agentKills: drivers.reduce((sum, d) => sum + d.kills, 0),
    killsDuringOps,
    membershipChanges,
    finalEpoch,
    durationMs: Date.now() - started,
    report,
  };
}

function packedSends(sends: readonly { acked: boolean; seq: number | undefined }[]): number {
  const perSeq = new Map<number, number>();
  for (const s of sends) if (s.acked && s.seq !== undefined) perSeq.set(s.seq, (perSeq.get(s.seq) ?? 0) + 1);
  return [...perSeq.values()].filter((n) => n > 1).reduce((sum, n) => sum + n, 0);
}

/** The channel's whole archive, read by an outside observer from seq 0 at the relay (node) at `url`. */
async function readArchive(url: string, key: Uint8Array, groupIdHex: string): Promise<ArchiveFrame[]> {
  const link = await TestLink.connect(url, key, "observer");
  try {
    const channel = new Uint8Array(Buffer.from(groupIdHex, "hex"));
    let ack = await link.request({ type: "Subscribe", id: 0n, channel, fromSeq: 0n });
    // "internal" means retry (a relay node whose NATS connection is still coming back, say).
    for (let i = 0; i < 40 && ack.type === "Error" && ack.code === "internal"; i++) {
      await sleep(500);
      ack = await link.request({ type: "Subscribe", id: 0n, channel, fromSeq: 0n });
    }
    if (ack.type !== "Ack") throw new Error(`subscribe refused: ${JSON.stringify(ack, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
    const last = ack.seq;
    await link.waitFor((pushed) => pushed.some((e) => e.id >= last), 30_000);
    return link.pushed.map((e) => {
      const mls = e.type === "Msg" || e.type === "GroupProposal" ? e.body : e.type === "GroupCommit" ? e.commit : undefined;
      if (mls === undefined) return { seq: Number(e.id), type: e.type, epoch: undefined, digest: undefined };
      const decoded = decodeMessage(mls);
      const digest = decoded.wireformat === "mls_private_message" ? createHash("sha256").update(decoded.privateMessage.ciphertext).digest("hex") : undefined;
      return { seq: Number(e.id), type: e.type, epoch: Number(readMlsRouting(mls).epoch), digest };
    });
  } finally {
    link.close();
  }
}
