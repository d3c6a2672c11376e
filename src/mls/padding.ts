import type { CiphersuiteImpl } from "ts-mls";
import { paddedBodySizeAtLeast } from "../wire/buckets.js";
import { COMMIT_ENVELOPE_EXTRA_BYTES } from "../wire/envelope.js";

/**
 * Bucket padding inside MLS.
 *
 * RFC 9420 §6.3.1 lets a sender append any number of zero bytes to the PrivateMessageContent before
 * encryption; receivers strip them. ts-mls chooses its padding before it knows the final message
 * length (a commit's size depends on the tree), so instead we extend the plaintext at the last
 * moment: in the AEAD call that encrypts the content, when every length is known. The result is a
 * PrivateMessage whose encoding plus the wire overhead is exactly one bucket (for a commit: plus
 * what its GroupCommit envelope adds, see COMMIT_ENVELOPE_EXTRA_BYTES).
 */

/** RFC 9420 ContentType of a commit: its envelope carries more than a Msg's. */
const CONTENT_TYPE_COMMIT = 3;

/** Bytes of a QUIC-style variable-length integer prefix (RFC 9420 §2.1.2) for `n`. */
function varintSize(n: number): number {
  return n < 64 ? 1 : n < 16384 ? 2 : 4;
}

const AEAD_TAG_BYTES = 16;
/** Encrypted sender data: leaf index, generation and reuse guard (4 + 4 + 4) plus the AEAD tag. */
const SENDER_DATA_CIPHERTEXT_BYTES = 12 + AEAD_TAG_BYTES;

/** Encoded size of an MLSMessage holding a PrivateMessage with empty authenticated_data. */
export function privateMessageSize(groupIdBytes: number, contentPlaintextBytes: number): number {
  const ciphertext = contentPlaintextBytes + AEAD_TAG_BYTES;
  return (
    2 + 2 + // version, wire format
    varintSize(groupIdBytes) + groupIdBytes +
    8 + 1 + // epoch, content type
    1 + // empty authenticated_data
    varintSize(SENDER_DATA_CIPHERTEXT_BYTES) + SENDER_DATA_CIPHERTEXT_BYTES +
    varintSize(ciphertext) + ciphertext
  );
}

/**
 * The padded plaintext length whose message, with `envelopeExtra` bytes more in its envelope than a
 * Msg has, is exactly the next body size that fills frames.
 */
export function paddedContentLength(groupIdBytes: number, contentPlaintextBytes: number, envelopeExtra = 0): number {
  const fitting = (atLeast: number) => paddedBodySizeAtLeast(atLeast + envelopeExtra) - envelopeExtra;
  let target = fitting(privateMessageSize(groupIdBytes, contentPlaintextBytes));
  for (;;) {
    const fixed = privateMessageSize(groupIdBytes, 0) - varintSize(AEAD_TAG_BYTES);
    for (const prefix of [1, 2, 4]) {
      const length = target - fixed - prefix;
      if (length >= contentPlaintextBytes && privateMessageSize(groupIdBytes, length) === target) return length;
    }
    // A varint boundary can make one exact size unreachable; the next body size always works.
    target = fitting(target + 1);
  }
}

/**
 * A view of `cs` whose AEAD pads PrivateMessage content for this group and epoch. Content
 * encryption is recognised by its AAD (RFC 9420 PrivateContentAAD: group id, epoch, content type,
 * authenticated_data, which we keep empty); sender data and Welcome encryption pass unchanged.
 */
export function withBucketPadding(cs: CiphersuiteImpl, groupId: Uint8Array, epoch: bigint): CiphersuiteImpl {
  const prefix = contentAadPrefix(groupId, epoch);
  const encryptAead: CiphersuiteImpl["hpke"]["encryptAead"] = (key, nonce, aad, plaintext) => {
    if (aad === undefined || !isContentAad(aad, prefix)) return cs.hpke.encryptAead(key, nonce, aad, plaintext);
    const extra = aad[prefix.length] === CONTENT_TYPE_COMMIT ? COMMIT_ENVELOPE_EXTRA_BYTES : 0;
    const padded = new Uint8Array(paddedContentLength(groupId.length, plaintext.length, extra));
    padded.set(plaintext);
    return cs.hpke.encryptAead(key, nonce, aad, padded);
  };
  return { ...cs, hpke: { ...cs.hpke, encryptAead } };
}

function contentAadPrefix(groupId: Uint8Array, epoch: bigint): Uint8Array {
  const lengthBytes = varintSize(groupId.length);
  const out = new Uint8Array(lengthBytes + groupId.length + 8);
  const view = new DataView(out.buffer);
  if (lengthBytes === 1) out[0] = groupId.length;
  else if (lengthBytes === 2) view.setUint16(0, 0x4000 | groupId.length);
  else view.setUint32(0, 0x80000000 | groupId.length);
  out.set(groupId, lengthBytes);
  view.setBigUint64(lengthBytes + groupId.length, epoch);
  return out;
}

function isContentAad(aad: Uint8Array, prefix: Uint8Array): boolean {
  // prefix, content type, then a zero-length authenticated_data (one 0x00 byte).
  if (aad.length !== prefix.length + 2 || aad[aad.length - 1] !== 0) return false;
  for (let i = 0; i < prefix.length; i++) if (aad[i] !== prefix[i]) return false;
  return true;
}
