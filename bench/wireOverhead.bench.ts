// npm run bench:wire — bytes on the wire per payload byte for a seeded, realistic agent message
// mix (many small JSON tool messages, some 2-20 KiB results, rare 100 KiB files), split into MLS
// overhead, bucket padding and framing (envelope, link frame, fragments); and the cover traffic a
// connection costs per second in each mode (the real LinkPacer on a simulated clock).
// BENCH_QUICK=1: fewer messages and simulated seconds. Writes the bench:wire section.
import { pathToFileURL } from "node:url";
import { createApplicationMessage, createCommit, createGroup, emptyPskIndex, joinGroup, makePskIndex, processPrivateMessage, type ClientState } from "ts-mls";
import { encodeText, decodeText } from "../src/agent/messageCodec.js";
import { encodePrivateMessage } from "../src/mls/messages.js";
import { withBucketPadding } from "../src/mls/padding.js";
import { clientConfig, loadCiphersuite } from "../src/mls/suite.js";
import { bucketFor, LINK_FRAME_OVERHEAD } from "../src/wire/buckets.js";
import { cellOf, DEFAULT_COVER, type CoverConfig, type Timers } from "../src/wire/cover.js";
import { encodeEnvelope } from "../src/wire/envelope.js";
import { fragment } from "../src/wire/fragments.js";
import { cellCapacity, MAX_FRAME_ENVELOPE } from "../src/wire/frames.js";
import { LinkCodec } from "../src/wire/link.js";
import { LinkPacer } from "../src/wire/linkPacer.js";
import { machineLine, replaceSection } from "./report.js";
import { exitIfStuck, memberKeyPackages, quick, seededRandom, table } from "./scaleKit.js";

export const SEED = 0x5c7a1e;
/** The sent time every message of the mix carries (its value does not change the size). */
const SENT_AT = Date.UTC(2026, 0, 1);

export type Kind = "tool message" | "result" | "file";

/** One message of the mix: a JSON text of the given kind. */
export interface MixMessage {
  readonly kind: Kind;
  readonly text: string;
}

function jsonOfSize(random: () => number, kind: Kind, bytes: number): string {
  const words = ["status", "ok", "task", "plan", "result", "step", "file", "diff", "error", "retry", "done", "agent", "channel"];
  let note = "";
  while (note.length < bytes) note += `${words[Math.floor(random() * words.length)]} `;
  return JSON.stringify({ kind, id: Math.floor(random() * 1e9), at: 1_764_000_000 + Math.floor(random() * 1e6), note: note.slice(0, Math.max(0, bytes - 60)) });
}

/** The seeded mix: 85% tool messages of 40-600 bytes, 14% results of 2-20 KiB, 1% files of 100 KiB. */
export function messageMix(count: number, seed = SEED): MixMessage[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const r = random();
    if (r < 0.85) return { kind: "tool message" as const, text: jsonOfSize(random, "tool message", 40 + Math.floor(random() * 560)) };
    if (r < 0.99) return { kind: "result" as const, text: jsonOfSize(random, "result", 2048 + Math.floor(random() * 18 * 1024)) };
    return { kind: "file" as const, text: jsonOfSize(random, "file", 100 * 1024) };
  });
}

/** Sizes of the link frames one envelope goes out in. */
export function frameSizes(envelope: Uint8Array): number[] {
  const pieces = envelope.length <= MAX_FRAME_ENVELOPE ? [envelope] : fragment(envelope, 0);
  return pieces.map((p) => bucketFor(p.length + LINK_FRAME_OVERHEAD)!);
}

export interface Split {
  payload: number;
  mls: number;
  padding: number;
  framing: number;
  frames: number;
  /** Every message decrypted back to its text at a second member. */
  roundTrip: boolean;
}

type Tally = Record<Kind | "all", Split>;

/** Encrypts the mix (bucket-padded, and once more unpadded to measure the padding) and tallies the bytes. */
export async function measureMix(mix: readonly MixMessage[]): Promise<{ tally: Tally; sizes: number[] }> {
  const cs = await loadCiphersuite();
  const [a, b] = await memberKeyPackages(cs, "w", 2);
  let sender: ClientState = await createGroup(new Uint8Array(12).fill(7), a!.keyPackage, a!.privateKeys, [], cs, clientConfig);
  const add = await createCommit({ state: sender, cipherSuite: cs }, { extraProposals: [{ proposalType: "add", add: { keyPackage: b!.keyPackage } }], ratchetTreeExtension: true });
  sender = add.newState;
  let receiver = await joinGroup(add.welcome!, b!.keyPackage, b!.privateKeys, emptyPskIndex, cs, undefined, undefined, clientConfig);
  const padded = withBucketPadding(cs, sender.groupContext.groupId, sender.groupContext.epoch);
  const empty = (): Split => ({ payload: 0, mls: 0, padding: 0, framing: 0, frames: 0, roundTrip: true });
  const tally: Tally = { "tool message": empty(), result: empty(), file: empty(), all: empty() };
  const sizes: number[] = [];
  for (const m of mix) {
    // As the agent sends it: a timed text (the sender's clock travels with it).
    const plaintext = encodeText(m.text, SENT_AT);
    const payload = new TextEncoder().encode(m.text).length;
    // The unpadded twin is made from a throwaway copy of the state: it only measures the size.
    const bare = encodePrivateMessage((await createApplicationMessage(sender, plaintext, cs)).privateMessage).length;
    const result = await createApplicationMessage(sender, plaintext, padded);
    sender = result.newState;
    const body = encodePrivateMessage(result.privateMessage);
    const frames = frameSizes(encodeEnvelope({ type: "Msg", id: 1n, body }));
    sizes.push(...frames);
    const wire = frames.reduce((x, y) => x + y, 0);
    const opened = await processPrivateMessage(receiver, result.privateMessage, makePskIndex(receiver, {}), cs);
    if (opened.kind !== "applicationMessage") throw new Error("not an application message");
    receiver = opened.newState;
    const ok = decodeText(opened.message)?.text === m.text;
    for (const t of [tally[m.kind], tally.all]) {
      t.payload += payload;
      t.mls += bare - payload;
      t.padding += body.length - bare;
      t.framing += wire - body.length;
      t.frames += frames.length;
      t.roundTrip &&= ok;
    }
  }
  return { tally, sizes };
}

/** A clock and timers that jump from one timer to the next. */
class SimulatedTimers implements Timers {
  now = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  private next = 0;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  runUntil(end: number): void {
    for (;;) {
      const [id, first] = [...this.pending].reduce<[number, { at: number; fn: () => void }] | [undefined, undefined]>(
        (best, entry) => (best[1] === undefined || entry[1].at < best[1].at ? entry : best), [undefined, undefined]);
      if (id === undefined || first === undefined || first.at > end) return;
      this.pending.delete(id);
      this.now = first.at;
      first.fn();
    }
  }
}

/**
 * Frames and bytes per second one side of a link sends in `seconds`, idle (no `pieces`) or with
 * `pieces` (encoded envelopes) handed over at the start: the real LinkPacer and LinkCodec on a
 * simulated clock. A paced link costs the same either way; with cover off only real frames go.
 */
export function linkCost(config: CoverConfig, seconds: number, pieces: readonly Uint8Array[] = [], seed = SEED): { bytesPerSecond: number; framesPerSecond: number; realFrames: number } {
  if (config.mode === "off") return { bytesPerSecond: 0, framesPerSecond: 0, realFrames: 0 };
  const timers = new SimulatedTimers();
  const codec = new LinkCodec({ send: new Uint8Array(32).fill(1), receive: new Uint8Array(32).fill(2) }, () => timers.now);
  let bytes = 0;
  let frames = 0;
  let realFrames = 0;
  const pacer = new LinkPacer({
    cover: { ...config, mode: config.mode },
    codec,
    write: (frame, cover) => {
      bytes += frame.length;
      frames++;
      if (!cover) realFrames++;
    },
    maxQueuedBytes: Number.POSITIVE_INFINITY,
    timers,
    now: () => timers.now,
    random: seededRandom(seed),
  });
  for (const piece of pieces) pacer.submit([piece]);
  pacer.start();
  timers.runUntil(seconds * 1000);
  pacer.stop();
  return { bytesPerSecond: bytes / seconds, framesPerSecond: frames / seconds, realFrames };
}

const ratio = (n: number, d: number) => (n / d).toFixed(3);

function splitRow(label: string, count: number, t: Split): Record<string, string> {
  const wire = t.payload + t.mls + t.padding + t.framing;
  return {
    messages: label,
    count: String(count),
    "payload bytes": String(t.payload),
    "wire bytes": String(wire),
    "wire / payload": ratio(wire, t.payload),
    "MLS / payload": ratio(t.mls, t.payload),
    "padding / payload": ratio(t.padding, t.payload),
    "framing / payload": ratio(t.framing, t.payload),
    frames: String(t.frames),
  };
}

async function main(): Promise<void> {
  const count = quick ? 300 : 3000;
  const seconds = quick ? 60 : 3600;
  const mix = messageMix(count);
  const { tally, sizes } = await measureMix(mix);
  if (!tally.all.roundTrip) throw new Error("a message did not decrypt back to its text");
  const counts = (k: Kind) => mix.filter((m) => m.kind === k).length;
  const rows = [
    splitRow("tool messages (40-600 B JSON)", counts("tool message"), tally["tool message"]),
    splitRow("results (2-20 KiB)", counts("result"), tally.result),
    splitRow("files (100 KiB)", counts("file"), tally.file),
    splitRow("whole mix", count, tally.all),
  ];
  // What the mix puts on a paced link's byte stream per message: each envelope with its 2-byte record length.
  const streamPerMessage = sizes.reduce((a, b) => a + b - LINK_FRAME_OVERHEAD + 2, 0) / count;
  const cover = (["off", "poisson", "constant"] as const).map((mode) => {
    const config = DEFAULT_COVER[mode];
    const c = linkCost(config, seconds);
    const carries = mode === "off" ? undefined : (config.rate * cellCapacity(cellOf(config))) / streamPerMessage;
    return {
      mode: `${mode}${mode === "off" ? "" : ` (${config.rate}/s × ${cellOf(config)} B)`}`,
      "frames/s each way": c.framesPerSecond.toFixed(2),
      "bytes/s each way": c.bytesPerSecond.toFixed(0),
      "KiB/hour both ways": ((2 * c.bytesPerSecond * 3600) / 1024).toFixed(0),
      "mix messages/s the slots carry before queueing": carries === undefined ? "no limit" : carries.toFixed(2),
    };
  });
  console.log(table(rows));
  console.log(table(cover));
  const body = [
    `Command: \`npm run bench:wire\`${quick ? " (BENCH_QUICK=1)" : ""} (seed 0x${SEED.toString(16)}). ${machineLine()}`,
    "",
    `A seeded mix of ${count} JSON messages (85% tool messages of 40-600 bytes, 14% results of 2-20 KiB, 1% files of 100 KiB), sent as an agent sends text (a kind byte, the 8-byte sent time, then UTF-8) in a 2-member channel, 12-byte group id. MLS = the unpadded PrivateMessage minus the payload (header, sender data, signature, tag, kind byte, sent time); padding = the zeros that make the message fill a bucket (or whole 32 KiB fragments); framing = envelope header, link length and tag, fragment headers. Every message was decrypted back to its text by the other member. These are the sender→relay bytes; the relay sends each member the same frames again.`,
    "",
    table(rows),
    "",
    `Cover traffic of one connection, each side (client and relay) with its mode's default settings; the real LinkPacer on a simulated clock over ${seconds} s. A paced link sends one frame of the cell size per slot whether idle or busy (real data takes cover's place), so this is its cost at any load, before WebSocket and TCP headers; the last column is how many messages of the mix a second its slots carry (the mix's envelopes as the byte stream cut into cells) before real data queues.`,
    "",
    table(cover),
  ].join("\n");
  replaceSection("bench:wire", "## Wire overhead (`npm run bench:wire`)", body);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  exitIfStuck("bench:wire", 10);
  await main();
}
