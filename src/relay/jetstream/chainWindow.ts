import { RecentFrames } from "../recentFrames.js";
import { frameCount, MESSAGE_ID_BYTES, type RecordHead } from "./records.js";

/** Where a record of the window sits: its frames' seqs and its stream seq. */
interface WindowRecord {
  readonly first: bigint;
  readonly last: bigint;
  readonly streamSeq: number;
}

/**
 * What a relay node keeps in memory about a channel's newest frames (like SQLite's RecentFrames):
 * the message ids of the last `size` frames, to recognise a client's retry, the epoch a
 * handshake among them led to, and where their records are in the stream, so that a replay
 * starting among them needs no search and each new record can say where the window starts.
 */
export class ChainWindow {
  private readonly frames: RecentFrames;
  private readonly handshakes = new Map<string, bigint>();
  private readonly records: WindowRecord[] = [];

  constructor(private readonly size: number) {
    this.frames = new RecentFrames(size, 0, true);
  }

  /** The seq a body with this id was archived with, if it is in the window. */
  seqOf(id: string): bigint | undefined {
    const seq = this.frames.seqOf(id);
    return seq === undefined ? undefined : BigInt(seq);
  }

  /** The epoch the handshake with this id led to, if it is in the window. */
  epochAfter(id: string): bigint | undefined {
    return this.frames.seqOf(id) === undefined ? undefined : this.handshakes.get(id);
  }

  /** Takes in a record of the chain, the next one after everything added before. */
  add(head: RecordHead): void {
    const count = frameCount(head);
    for (let i = 0; i < count; i++) {
      const id = Buffer.from(head.ids.buffer, head.ids.byteOffset + i * MESSAGE_ID_BYTES, MESSAGE_ID_BYTES).toString("latin1");
      const seq = Number(head.first) + i;
      if (seq <= this.frames.lastSeq) this.frames.remember(seq, id);
      else this.frames.add(seq, id);
      if (head.handshake && head.state.epoch !== null) this.handshakes.set(id, head.state.epoch);
    }
    if (count > 0) this.records.push({ first: head.first, last: head.state.lastSeq, streamSeq: head.streamSeq });
    const oldest = head.state.lastSeq - BigInt(this.size) + 1n;
    while (this.records.length > 1 && this.records[0]!.last < oldest) this.records.shift();
    if (this.handshakes.size > this.size) {
      for (const id of this.handshakes.keys()) if (this.frames.seqOf(id) === undefined) this.handshakes.delete(id);
    }
  }

  /** Stream seq of the oldest record still in the window once the channel's last seq is `lastSeq`. */
  start(lastSeq: bigint, fallback: number): number {
    const oldest = lastSeq - BigInt(this.size) + 1n;
    return this.records.find((r) => r.last >= oldest)?.streamSeq ?? fallback;
  }

  /** Stream seq of the record holding `seq`, if it is among the window's records. */
  locate(seq: bigint): number | undefined {
    const first = this.records[0];
    if (first === undefined || seq < first.first) return undefined;
    return this.records.find((r) => r.last >= seq)?.streamSeq;
  }
}
