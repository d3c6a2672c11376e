// Channels are bound to their creator. A channel id is a hash of the creator's identity key and a
// nonce, and the creator opens it at the relay with a signature naming the commit key of epoch 0;
// before that the relay accepts nothing on the channel. Nobody else can open a channel with that
// id (it would need another key, or the creator's signature), and nobody outside epoch 0 can make
// its first commit (it must be signed with that commit key): a leaked invite or a guessed id
// gives a stranger no channel to squat.
import { createHash } from "node:crypto";
import { ByteWriter } from "./binary.js";
import { ed25519Valid } from "./ed25519.js";

export const CHANNEL_ID_BYTES = 12;
export const CHANNEL_NONCE_BYTES = 16;
const ID_CONTEXT = "skytale channel id v1";
const OPEN_CONTEXT = new TextEncoder().encode("skytale channel open v1");

/** The id of the channel `creatorKey` makes with `nonce`. */
export function channelIdFor(creatorKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(ID_CONTEXT).update(creatorKey).update(nonce).digest();
  return new Uint8Array(digest.subarray(0, CHANNEL_ID_BYTES));
}

/** What the creator signs to open a channel at the relay. */
export function channelOpenBytes(channel: Uint8Array, nonce: Uint8Array, commitKey: Uint8Array): Uint8Array {
  return new ByteWriter(OPEN_CONTEXT.length + 64).raw(OPEN_CONTEXT).vec8(channel).vec8(nonce).vec8(commitKey).bytes();
}

/** Whether `creatorKey` made `channel` with `nonce` and signed its opening with epoch 0's `commitKey`. */
export function channelOpenValid(channel: Uint8Array, nonce: Uint8Array, commitKey: Uint8Array, creatorKey: Uint8Array, signature: Uint8Array): boolean {
  if (nonce.length !== CHANNEL_NONCE_BYTES) return false;
  const expected = channelIdFor(creatorKey, nonce);
  if (channel.length !== expected.length || !expected.every((b, i) => b === channel[i])) return false;
  return ed25519Valid(creatorKey, channelOpenBytes(channel, nonce, commitKey), signature);
}
