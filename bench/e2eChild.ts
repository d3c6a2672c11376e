// One side of bench/e2e.bench.ts, in its own process: a real `Agent` (skytale) or a plain
// WebSocket client (baseline), as sender or receiver. Commands arrive as JSON lines on stdin;
// every answer is one JSON line on stdout. Timestamps are wall-clock milliseconds
// (performance.timeOrigin + performance.now()), comparable across processes on one machine.
//   argv: mode, role, relay URL, relay key, data dir, cover (a CoverConfig as JSON; default off),
//   message bytes (default 1024)
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { announceDid, createWithPeer } from "../analysis/peerIdentity.js";
import { Agent } from "../src/agent/agent.js";
import { DEFAULT_COVER, type CoverConfig } from "../src/wire/cover.js";

const [mode, role, url, keyB64, dataDir, coverJson, bytesText] = process.argv.slice(2) as ["skytale" | "skytale-unpacked" | "baseline", "sender" | "receiver", string, string, string, string?, string?];
const CHANNEL = "bench/e2e/one";
const MESSAGE_BYTES = Number(bytesText ?? 1024);
const cover: CoverConfig = coverJson === undefined ? DEFAULT_COVER.off : (JSON.parse(coverJson) as CoverConfig);
const now = () => performance.timeOrigin + performance.now();
const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** A message of `bytes` naming its send time and index, so the receiver can measure and check order. */
function message(index: number, bytes = MESSAGE_BYTES): string {
  const head = `${now().toFixed(3)} ${index} `;
  return head + "x".repeat(Math.max(0, bytes - head.length));
}

/** Same shape for both modes: send with at most `window` unanswered, and a stream of received texts. */
interface Side {
  setup(): Promise<void>;
  /** Resolves with the seq of the MLS message that carried it (skytale), when the relay has it. */
  send(text: string): Promise<number | undefined>;
  /** Resolves with the next texts received (waits for at least one). */
  receive(): Promise<string[]>;
  close(): Promise<void>;
}

function skytaleSide(): Side {
  let agent: Agent | undefined;
  const open = async () =>
    (agent = await Agent.open({
      name: role === "sender" ? "alice" : "bob",
      dataDir,
      relayUrl: url,
      relayKey: new Uint8Array(Buffer.from(keyB64, "base64url")),
      cover,
      packSends: mode === "skytale",
      directoryAdds: "all",
      log: (line) => process.stderr.write(`${role}: ${line}\n`),
    }));
  return {
    async setup() {
      const a = await open();
      if (role === "receiver") {
        announceDid(dataDir, "bob", a.identity.did);
        // Key packages are published once connected; wait until the sender has added us.
        const deadline = Date.now() + 30_000;
        while (!(await a.channels()).some((c) => c.channel === CHANNEL)) {
          if (Date.now() > deadline) throw new Error("not added to the channel within 30 s");
          await new Promise((r) => setTimeout(r, 20));
        }
        return;
      }
      await createWithPeer(a, dataDir, CHANNEL, "bob", 100, 50);
    },
    async send(text) {
      const sent = await agent!.send(CHANNEL, text);
      if (sent.status !== "sent") throw new Error(`the relay did not take a message: ${sent.reason}`);
      return sent.seq;
    },
    async receive() {
      for (;;) {
        const { messages } = await agent!.receive({ channel: CHANNEL, waitMs: 1000, maxMessages: 1000 });
        if (messages.length > 0) return messages.map((m) => m.message);
      }
    },
    close: async () => agent?.close(),
  };
}

/** The baseline: plaintext over bench/relayServerChild.ts "baseline" (broadcast, 8-byte ack). */
function baselineSide(): Side {
  let ws: WebSocket | undefined;
  const acks: (() => void)[] = [];
  let inbox: string[] = [];
  let wake: (() => void) | undefined;
  return {
    async setup() {
      const socket = new WebSocket(url, { perMessageDeflate: false });
      ws = socket;
      await new Promise((resolve, reject) => (socket.once("open", resolve), socket.once("error", reject)));
      socket.on("message", (data: Buffer, isBinary) => {
        if (!isBinary) return;
        if (data.length === 8) return acks.shift()?.();
        inbox.push(data.toString("utf8"));
        wake?.();
      });
      if (role === "receiver") {
        const subscribed = new Promise((r) => socket.once("message", r));
        socket.send("sub");
        await subscribed;
      }
    },
    send(text) {
      return new Promise<undefined>((resolve) => {
        acks.push(() => resolve(undefined));
        ws!.send(Buffer.from(text, "utf8"));
      });
    },
    async receive() {
      while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
      const got = inbox;
      inbox = [];
      return got;
    },
    close: async () => ws?.close(),
  };
}

/** CPU time (user + system) this process used since `start`: what a phase cost, whatever else runs on the machine. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const side = mode === "baseline" ? baselineSide() : skytaleSide();

/**
 * Sends `count` messages, at most `window` awaiting the relay's answer at any time; `carriers` is
 * how many MLS messages carried them (distinct seqs; 0 for the baseline).
 */
async function sendAll(first: number, count: number, window: number, bytes?: number): Promise<{ startedAt: number; endedAt: number; cpuMs: number; carriers: number }> {
  const startedAt = now();
  const cpu = process.cpuUsage();
  const seqs = new Set<number>();
  let next = first;
  const end = first + count;
  const worker = async () => {
    while (next < end) {
      const seq = await side.send(message(next++, bytes));
      if (seq !== undefined) seqs.add(seq);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return { startedAt, endedAt: now(), cpuMs: cpuMsSince(cpu), carriers: seqs.size };
}

/** Receives until `count` messages arrived; latencies are receive time minus the time written in each. */
async function receiveAll(count: number): Promise<{ latencies: number[]; lastAt: number; outOfOrder: number; duplicates: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const latencies: number[] = [];
  const seen = new Set<number>();
  let last = -1;
  let outOfOrder = 0;
  let duplicates = 0;
  let lastAt = now();
  while (latencies.length + duplicates < count) {
    const texts = await side.receive();
    lastAt = now();
    for (const text of texts) {
      const [sentAt, index] = text.split(" ", 2).map(Number) as [number, number];
      if (seen.has(index)) duplicates++;
      else latencies.push(lastAt - sentAt);
      seen.add(index);
      if (index < last) outOfOrder++;
      last = index;
    }
  }
  return { latencies, lastAt, outOfOrder, duplicates, cpuMs: cpuMsSince(cpu) };
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line) as { op: "setup" } | { op: "send"; first: number; count: number; window: number; bytes?: number } | { op: "receive"; count: number } | { op: "close" };
  const run = async (): Promise<unknown> => {
    if (command.op === "setup") return side.setup();
    if (command.op === "send") return sendAll(command.first, command.count, command.window, command.bytes);
    if (command.op === "receive") return receiveAll(command.count);
    await side.close();
    lines.close();
    return undefined;
  };
  run().then(
    (value) => reply({ ok: true, value: value ?? null }),
    (error: unknown) => reply({ ok: false, error: String((error as Error).stack ?? error) }),
  );
});
