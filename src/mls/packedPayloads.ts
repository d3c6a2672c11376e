import type { RatchetTree } from "ts-mls/ratchetTree.js";
import { everyLeafHas } from "./capabilities.js";
import { MlsError } from "./errors.js";

/**
 * Several application payloads in one MLS application message.
 *
 * When sends pile up faster than they can go out one by one, the payloads queued together are
 * encrypted as one message: one signature, one AEAD, one ratchet step and one relay frame for all
 * of them, where each would otherwise pay its own. The plaintext of such a message is
 * `0xFF | (u32 length | payload)*`, with at least two payloads, read strictly. A payload's own first
 * byte is never 0xFF (the layers above use small kind bytes), so a single payload is sent as it is.
 *
 * A member that predates packing would drop a packed message without a trace (0xFF is no kind it
 * keeps), so packing is used only in groups whose every leaf advertises PACKED_PAYLOADS_CAPABILITY
 * (a private-use extension type in its capabilities). ts-mls carries a leaf's capabilities over
 * when it is updated, so a leaf made from an older key package keeps its group unpacked for as
 * long as it stays, even once its agent has upgraded (capabilities.ts).
 */
export const PACKED_PAYLOADS_CAPABILITY = 0xf5a2;
/** First byte of a packed plaintext; refused as the first byte of a single payload. */
export const PACKED_MARKER = 0xff;
/** Most plaintext bytes in one packed message: with its overhead it fits a 16 KiB frame. */
export const MAX_PACKED_BYTES = 15 * 1024;
/**
 * Most payloads in one packed message. Bytes alone would let a member turn one frame of tiny parts
 * into thousands of inbox rows and notifications; this keeps a frame's work on the order of an
 * honest burst's (about 13 payloads per message under bench:e2e load).
 */
export const MAX_PACKED_PARTS = 64;
const LENGTH_BYTES = 4;

/** Bytes a payload adds to a packed plaintext. */
export function packedSize(payload: Uint8Array): number {
  return LENGTH_BYTES + payload.length;
}

export function encodePacked(payloads: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(1 + payloads.reduce((sum, p) => sum + packedSize(p), 0));
  const view = new DataView(out.buffer);
  out[0] = PACKED_MARKER;
  let at = 1;
  for (const payload of payloads) {
    view.setUint32(at, payload.length);
    out.set(payload, at + LENGTH_BYTES);
    at += packedSize(payload);
  }
  return out;
}

/**
 * The payloads an application message carries: itself, or the parts of a packed one. A packed
 * plaintext whose lengths do not add up exactly, that holds fewer than two parts, or that is longer
 * or holds more parts than a sender packs (which bounds the inbox rows one message can make) is
 * refused: the sender is a member, but it is not following the protocol.
 */
export function unpackPayloads(plaintext: Uint8Array): Uint8Array[] {
  if (plaintext[0] !== PACKED_MARKER) return [plaintext];
  if (plaintext.length > MAX_PACKED_BYTES) throw malformed();
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const parts: Uint8Array[] = [];
  let at = 1;
  while (at < plaintext.length) {
    if (parts.length === MAX_PACKED_PARTS || at + LENGTH_BYTES > plaintext.length) throw malformed();
    const end = at + LENGTH_BYTES + view.getUint32(at);
    if (end > plaintext.length) throw malformed();
    parts.push(plaintext.subarray(at + LENGTH_BYTES, end));
    at = end;
  }
  if (parts.length < 2) throw malformed();
  return parts;
}

function malformed(): MlsError {
  return new MlsError("bad_message", "a packed application message that is too long, has too many parts, or whose parts do not add up");
}

/**
 * Splits queued payloads, in order, into messages: runs of packable ones share a message while
 * their packed plaintext stays within MAX_PACKED_BYTES and MAX_PACKED_PARTS; every other payload
 * has one to itself.
 */
export function groupForPacking<T extends { readonly plaintext: Uint8Array; readonly packable: boolean }>(queued: readonly T[], packing: boolean): T[][] {
  const messages: T[][] = [];
  let open: T[] | undefined;
  let openBytes = 0;
  for (const item of queued) {
    const size = packedSize(item.plaintext);
    if (packing && item.packable && open !== undefined && open.length < MAX_PACKED_PARTS && openBytes + size <= MAX_PACKED_BYTES) {
      open.push(item);
      openBytes += size;
      continue;
    }
    open = [item];
    openBytes = 1 + size;
    messages.push(open);
    if (!packing || !item.packable) open = undefined;
  }
  return messages;
}

/** Whether every member's leaf can read packed messages (checked once per tree object). */
export function everyLeafUnpacks(tree: RatchetTree): boolean {
  return everyLeafHas(tree, PACKED_PAYLOADS_CAPABILITY);
}
