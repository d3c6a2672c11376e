// The paced link, step by step on a manual clock: frames leave only at the schedule's slots, one
// per slot, of the cell size, whatever is sent; real data takes cover's place and never adds a
// frame; the peer reads back exactly what was sent.
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CellReader, CellWriter } from "../../src/wire/cells.js";
import type { CoverConfig } from "../../src/wire/cover.js";
import { type Envelope } from "../../src/wire/envelope.js";
import { cellCapacity, FrameOpener, FrameSealer } from "../../src/wire/frames.js";
import { ClientHandshake, respondToHello } from "../../src/wire/handshake.js";
import { LinkCodec } from "../../src/wire/link.js";
import { LinkPacer } from "../../src/wire/linkPacer.js";
import { SlotClock } from "../../src/wire/slotClock.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";
import { mulberry32 } from "../../analysis/prng.js";
import { ManualTimers } from "../transport/helpers.js";

/** A sender and its peer, which knows the sender paces (reads cells). */
function linkedPair() {
  const relayKey = generateStaticKeyPair();
  const client = new ClientHandshake(relayKey.publicKey);
  const { reply, keys } = respondToHello(client.hello, relayKey);
  return { sender: new LinkCodec(client.finish(reply)), receiver: new LinkCodec(keys, Date.now, true) };
}

interface Sent {
  readonly at: number;
  readonly size: number;
  readonly cover: boolean;
}

/**
 * A pacer on a manual clock for `ms`; `traffic(t)` names what the owner submits when the clock
 * reaches t (checked every millisecond, between slots). Returns every frame written, when, and
 * what the receiving side read from them.
 */
function run(cover: CoverConfig & { mode: "poisson" | "constant" }, ms: number, traffic: (t: number) => Envelope[], seed = 7) {
  const { sender, receiver } = linkedPair();
  const timers = new ManualTimers();
  const sent: Sent[] = [];
  const read: Envelope[] = [];
  const pacer = new LinkPacer({
    cover,
    codec: sender,
    write: (frame, isCover) => {
      sent.push({ at: timers.now, size: frame.length, cover: isCover });
      const got = receiver.readEncoded(frame);
      // The peer tells cover from data exactly as the sender meant it.
      expect(got.cover).toBe(isCover);
      read.push(...got.envelopes.map((e) => e.envelope));
    },
    maxQueuedBytes: Number.POSITIVE_INFINITY,
    timers,
    now: () => timers.now,
    random: mulberry32(seed),
  });
  pacer.start();
  for (let t = 0; t < ms; t++) {
    for (const e of traffic(t)) expect(pacer.submit(sender.pieces(e))).toBe(true);
    timers.advance(1);
  }
  pacer.stop();
  return { sent, read, pacer };
}

/** The slot times the same schedule gives on its own (SlotClock with the same seed). */
function schedule(cover: { mode: "poisson" | "constant"; rate: number }, ms: number, seed = 7): number[] {
  const timers = new ManualTimers();
  const at: number[] = [];
  const clock = new SlotClock({ ...cover, timers, now: () => timers.now, random: mulberry32(seed) }, () => at.push(timers.now));
  clock.start();
  for (let t = 0; t < ms; t++) timers.advance(1);
  clock.stop();
  return at;
}

const msg = (id: number, bytes: number): Envelope => ({ type: "Msg", id: BigInt(id), body: new Uint8Array(randomBytes(bytes)) });

describe("paced link (LinkPacer)", () => {
  const poisson = { mode: "poisson", rate: 40, cell: 1024 } as const;

  it("sends one cell-sized frame in every slot and nowhere else, the same for idle, chat, bulk and a burst", () => {
    const slots = schedule(poisson, 5000);
    expect(slots.length).toBeGreaterThan(150);
    const workloads: Record<string, (t: number) => Envelope[]> = {
      idle: () => [],
      chat: (t) => (t % 700 === 13 ? [msg(t, 120)] : []),
      bulk: (t) => (t === 100 || t === 2500 ? [msg(t, 30_000)] : []),
      burst: (t) => (t === 50 ? Array.from({ length: 200 }, (_, i) => msg(i + 1, 40)) : []),
      huge: (t) => (t === 1 ? [msg(1, 100_000)] : []),
    };
    for (const [name, traffic] of Object.entries(workloads)) {
      const { sent } = run(poisson, 5000, traffic);
      // The shape on the wire: exactly the schedule's times, exactly the cell's size.
      expect({ name, at: sent.map((s) => s.at) }).toEqual({ name, at: slots });
      expect({ name, sizes: new Set(sent.map((s) => s.size)) }).toEqual({ name, sizes: new Set([1024]) });
    }
  });

  it("carries real data in place of cover, in order and intact, and only as many cells as its bytes need", () => {
    const envelopes = [msg(1, 120), msg(2, 30_000), msg(3, 5), msg(4, 100_000), msg(5, 800)];
    const { sent, read } = run({ mode: "constant", rate: 100, cell: 2048 }, 6000, (t) => (t === 0 ? envelopes : []));
    expect(read).toEqual(envelopes);
    const { sender } = linkedPair();
    const streamBytes = envelopes.flatMap((e) => sender.pieces(e)).reduce((s, p) => s + 2 + p.length, 0);
    expect(sent.filter((s) => !s.cover)).toHaveLength(Math.ceil(streamBytes / cellCapacity(2048)));
    // Constant mode: a slot every 10 ms, real or not.
    expect(sent.map((s) => s.at)).toEqual(Array.from({ length: 600 }, (_, i) => 10 * (i + 1)));
  });

  it("refuses what would pass its bound, keeping nothing of it; drain sends at most the frames asked for", () => {
    const { sender } = linkedPair();
    const timers = new ManualTimers();
    const written: number[] = [];
    const pacer = new LinkPacer({
      cover: poisson,
      codec: sender,
      write: (frame) => written.push(frame.length),
      maxQueuedBytes: 5000,
      timers,
      now: () => timers.now,
      random: () => 0.5,
    });
    expect(pacer.submit(sender.pieces(msg(1, 3000)))).toBe(true);
    expect(pacer.submit(sender.pieces(msg(2, 3000)))).toBe(false);
    expect(pacer.queuedBytes).toBe(3000 + 10 + 2);
    pacer.drain(2);
    expect(written).toEqual([1024, 1024]);
    expect(pacer.queuedBytes).toBe(3012 - 2 * cellCapacity(1024));
    expect(cellCapacity(1024)).toBe(1008);
    pacer.drain(10);
    expect(written).toHaveLength(3);
    expect(pacer.queuedBytes).toBe(0);
  });
});

describe("slot clock", () => {
  it("constant: slots at exact multiples of 1/rate; poisson: gaps from the injected randomness", () => {
    expect(schedule({ mode: "constant", rate: 4 }, 1100)).toEqual([250, 500, 750, 1000]);
    const draws = [0.5, 0.1, 0.9, 0.5];
    const timers = new ManualTimers();
    const at: number[] = [];
    const clock = new SlotClock({ mode: "poisson", rate: 10, timers, now: () => timers.now, random: () => draws.shift() ?? 0.5 }, () => at.push(timers.now));
    clock.start();
    timers.advance(1000);
    const gaps = [0.5, 0.1, 0.9].map((u) => (-Math.log(1 - u) / 10) * 1000);
    const expected = gaps.map((_, i) => gaps.slice(0, i + 1).reduce((a, b) => a + b, 0));
    // Timers take whole milliseconds, so a slot fires at its deadline rounded up.
    expect(at.slice(0, 3)).toEqual(expected.map((t) => Math.ceil(t)));
  });

  it("keeps absolute deadlines: a late slot does not shift the next, and missed ones collapse into one frame", () => {
    let now = 0;
    const fire: (() => void)[] = [];
    const at: number[] = [];
    const clock = new SlotClock(
      { mode: "constant", rate: 10, timers: { setTimeout: (fn) => fire.push(fn), clearTimeout: () => undefined }, now: () => now, random: () => 0.5 },
      () => at.push(now),
    );
    clock.start();
    now = 130; // the first slot (100) is served 30 ms late
    fire.shift()!();
    now = 200;
    fire.shift()!();
    now = 470; // busy through the slots at 300 and 400: one frame now, the other missed
    fire.shift()!();
    now = 500;
    fire.shift()!();
    expect(at).toEqual([130, 200, 470, 500]);
    expect(clock.missed).toBe(1);
  });
});

describe("cells", () => {
  it("cut anywhere, the byte stream gives back the same pieces", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 3, max: 4000 }), { minLength: 1, maxLength: 20 }), (lengths, capacities) => {
        const pieces = lengths.map((n, i) => new Uint8Array(Math.min(n, 32750)).fill(i + 1));
        const writer = new CellWriter();
        pieces.forEach((p) => writer.push(p));
        const reader = new CellReader();
        const out: Uint8Array[] = [];
        for (let i = 0; writer.bytes > 0; i++) {
          // A cell is its capacity long: what the writer leaves of it is zero fill.
          const capacity = capacities[i % capacities.length] as number;
          const cell = new Uint8Array(capacity);
          cell.set(writer.take(capacity)!);
          const got = reader.push(cell);
          expect(got.carried).toBe(true);
          out.push(...got.pieces);
        }
        expect(reader.push(new Uint8Array(100)).carried).toBe(false);
        expect(out.map((p) => p.length)).toEqual(pieces.map((p) => p.length));
        expect(out.every((p, i) => Buffer.from(p).equals(pieces[i] as Uint8Array))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it("an envelope padded to a bucket fills exactly one cell of that bucket; fill is read strictly", () => {
    const writer = new CellWriter();
    writer.push(new Uint8Array(1024 - 18).fill(7)); // a link frame's envelope room in a 1024 bucket
    writer.push(new Uint8Array(5).fill(8));
    expect(writer.take(cellCapacity(1024))?.length).toBe(1008);
    // The next cell: the small piece, then fill.
    expect(writer.take(cellCapacity(1024))?.length).toBe(7);
    expect(writer.take(cellCapacity(1024))).toBeUndefined();
    // A length field is never split: with one byte left at a record's start, that byte is fill.
    writer.push(new Uint8Array(3).fill(1));
    writer.push(new Uint8Array(3).fill(2));
    expect(writer.take(6)).toEqual(new Uint8Array([0, 3, 1, 1, 1]));
    const reader = new CellReader();
    expect(reader.push(new Uint8Array([0, 3, 1, 1, 1, 0])).pieces).toEqual([new Uint8Array([1, 1, 1])]);
    expect(() => new CellReader().push(new Uint8Array([0, 3, 1, 1, 1, 9]))).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => new CellReader().push(new Uint8Array([0, 0, 0, 5]))).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => new CellReader().push(new Uint8Array([0x7f, 0xff]))).toThrow(expect.objectContaining({ code: "bad_frame" }));
  });

  it("a cell is one size whatever it carries, and holds at most its capacity", () => {
    const key = new Uint8Array(32).fill(3);
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    const a = sealer.sealCell(new Uint8Array([0, 1, 9]), 512);
    const b = sealer.sealCell(new Uint8Array(cellCapacity(512)).fill(9), 512);
    expect([a.length, b.length]).toEqual([512, 512]);
    expect(opener.openCell(a).subarray(0, 4)).toEqual(Buffer.from([0, 1, 9, 0]));
    expect(opener.openCell(b).length).toBe(496);
    expect(() => sealer.sealCell(new Uint8Array(cellCapacity(512) + 1), 512)).toThrow(expect.objectContaining({ code: "too_large" }));
  });
});
