import { createHash } from "node:crypto";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { envelopeTypeOf } from "../../wire/envelope.js";
import type { ChannelFrame, StoredKind } from "../channelLog.js";

/**
 * A channel's archive in JetStream is one subject holding a chain of records. Each record is
 * published with `Nats-Expected-Last-Subject-Sequence` set to the stream sequence of the record
 * before it (`prev`), so the chain is linear: one writer wins each position, whichever relay node
 * it runs on. A record carries consecutive frames (group commit: a turn's worth of one channel's
 * writes, or one handshake alone) and, in its headers, the channel's state after it, so that any
 * node can continue the chain from the last record alone:
 *
 *   Nats-Msg-Id   content hash of (channel, prev, frame ids): a retry of the same record is recognised
 *   Sky-Prev      stream seq of the record before (0: the first)
 *   Sky-First     the channel seq of the first frame (frames are numbered densely from 1)
 *   Sky-State     "epoch epochSeq commitKey totalBytes lastSeq creator" after the record ("-" for none)
 *   Sky-Ids       the frames' message ids, 16 bytes each (retries are recognised by them)
 *   Sky-Win       stream seq of the oldest record of the dedup window, where a node loading the
 *                 channel starts reading ids back
 *   Sky-Hs        "1": the record is one handshake (its epoch after is the state's)
 *
 * The body is the frames as subscribers receive them: (u32 length, delivery envelope)*. A record
 * with no frames is a channel's opening (its first record: the creator and the first commit key),
 * or a checkpoint, written by retention before it purges everything older, so that the state
 * survives.
 */

/** Bytes of a message id: the first 16 bytes of SHA-256 of the frame's body. */
export const MESSAGE_ID_BYTES = 16;

export interface ChannelState {
  /** The channel's last seq (0: none). */
  readonly lastSeq: bigint;
  /** null until the first proposal or commit. */
  readonly epoch: bigint | null;
  /** Seq of the commit that made the epoch (0: none yet). */
  readonly epochSeq: bigint;
  readonly commitKey: Uint8Array | null;
  /** Body bytes of every frame ever archived in the channel: retention's size measure. */
  readonly totalBytes: bigint;
  /** The principal that opened the channel; null: not opened, so nothing is archived on it. */
  readonly creator: string | null;
}

export const EMPTY_STATE: ChannelState = { lastSeq: 0n, epoch: null, epochSeq: 0n, commitKey: null, totalBytes: 0n, creator: null };

/** What a record says in its headers. */
export interface RecordHead {
  /** Its stream sequence (0 while not yet published). */
  readonly streamSeq: number;
  readonly prev: number;
  readonly first: bigint;
  /** MESSAGE_ID_BYTES per frame. */
  readonly ids: Uint8Array;
  readonly state: ChannelState;
  readonly win: number;
  readonly handshake: boolean;
  readonly msgId: string;
}

export interface ChannelRecord extends RecordHead {
  /** The frames' delivery envelopes, in seq order; empty when only the headers were read. */
  readonly frames: readonly Uint8Array[];
}

/** A frame of a record as subscribers get it. */
export function frameOf(envelope: Uint8Array, seq: bigint): ChannelFrame {
  return { seq, kind: (envelopeTypeOf(envelope) ?? "Msg") as StoredKind, envelope };
}

export function messageId(body: Uint8Array): Buffer {
  return createHash("sha256").update(body).digest().subarray(0, MESSAGE_ID_BYTES);
}

export function frameCount(head: RecordHead): number {
  return head.ids.length / MESSAGE_ID_BYTES;
}

/**
 * The record's id: the same content at the same place in the same chain has the same id. An
 * opening has no frames: its creator and commit key (`opening`) tell two openers' records apart,
 * so that the server's dedup never answers one with the other's.
 */
export function recordMsgId(channel: Uint8Array, prev: number, ids: Uint8Array, opening?: { readonly creator: string; readonly commitKey: Uint8Array }): string {
  const h = createHash("sha256").update("skytale record v1").update(channel);
  const p = Buffer.alloc(8);
  p.writeBigUInt64BE(BigInt(prev));
  h.update(p).update(ids);
  if (opening !== undefined) h.update("open").update(opening.creator).update(opening.commitKey);
  return h.digest().subarray(0, 18).toString("base64url");
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");

function stateText(s: ChannelState): string {
  return `${s.epoch ?? "-"} ${s.epochSeq} ${s.commitKey === null ? "-" : b64(s.commitKey)} ${s.totalBytes} ${s.lastSeq} ${s.creator ?? "-"}`;
}

/** A record's headers and body, ready to publish. */
export function encodeRecord(record: Omit<ChannelRecord, "streamSeq">): { headers: MsgHdrs; body: Uint8Array } {
  const h = natsHeaders();
  h.set("Nats-Msg-Id", record.msgId);
  h.set("Sky-Prev", String(record.prev));
  h.set("Sky-First", String(record.first));
  h.set("Sky-State", stateText(record.state));
  h.set("Sky-Ids", b64(record.ids));
  h.set("Sky-Win", String(record.win));
  if (record.handshake) h.set("Sky-Hs", "1");
  let size = 0;
  for (const f of record.frames) size += 4 + f.length;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const f of record.frames) {
    body.writeUInt32BE(f.length, at);
    body.set(f, at + 4);
    at += 4 + f.length;
  }
  return { headers: h, body };
}

/** A stored record's headers and body was not what this code writes: a foreign or damaged stream. */
export class RecordError extends Error {
  override readonly name = "RecordError";
}

function integer(text: string | undefined, what: string): bigint {
  if (text === undefined || !/^\d{1,19}$/.test(text)) throw new RecordError(`record header ${what} is malformed`);
  return BigInt(text);
}

/** Reads a stored record; `body` undefined (or empty) when only headers were read. */
export function decodeRecord(streamSeq: number, h: MsgHdrs | undefined, body: Uint8Array | undefined): ChannelRecord {
  if (h === undefined) throw new RecordError("a record without headers");
  const [epoch, epochSeq, key, total, last, creator] = (h.get("Sky-State") || "").split(" ");
  const ids = new Uint8Array(Buffer.from(h.get("Sky-Ids"), "base64url"));
  if (ids.length % MESSAGE_ID_BYTES !== 0) throw new RecordError("record header Sky-Ids is malformed");
  const first = integer(h.get("Sky-First"), "Sky-First");
  const state: ChannelState = {
    epoch: epoch === "-" ? null : integer(epoch, "Sky-State epoch"),
    epochSeq: integer(epochSeq, "Sky-State epochSeq"),
    commitKey: key === "-" || key === undefined ? null : new Uint8Array(Buffer.from(key, "base64url")),
    totalBytes: integer(total, "Sky-State totalBytes"),
    lastSeq: integer(last, "Sky-State lastSeq"),
    creator: creator === undefined || creator === "-" ? null : creator,
  };
  if (state.lastSeq !== first + BigInt(ids.length / MESSAGE_ID_BYTES) - 1n) throw new RecordError("record headers disagree on its last seq");
  const frames: Uint8Array[] = [];
  if (body !== undefined && body.length > 0) {
    const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    for (let at = 0; at < view.length; ) {
      if (at + 4 > view.length) throw new RecordError("record body is truncated");
      const n = view.readUInt32BE(at);
      if (at + 4 + n > view.length) throw new RecordError("record body is truncated");
      frames.push(body.subarray(at + 4, at + 4 + n));
      at += 4 + n;
    }
    if (frames.length !== ids.length / MESSAGE_ID_BYTES) throw new RecordError("record body and headers disagree on its frames");
  }
  return {
    streamSeq,
    prev: Number(integer(h.get("Sky-Prev"), "Sky-Prev")),
    first,
    ids,
    state,
    win: Number(integer(h.get("Sky-Win"), "Sky-Win")),
    handshake: h.get("Sky-Hs") === "1",
    msgId: h.get("Nats-Msg-Id"),
    frames,
  };
}
