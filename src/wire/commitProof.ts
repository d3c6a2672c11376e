// Commit proofs: the relay's check that a commit comes from someone who holds the channel's
// current epoch. Every member derives an Ed25519 key from the epoch's MLS exporter; a commit is
// signed with the key of the epoch it is built on and names the key of the epoch it leads to. The
// relay keeps the latest named public key per channel and refuses commits not signed by it, so
// nobody outside the current epoch (a removed member, a stranger who learned the group id, the
// relay's other tenants) can win an epoch with a commit the members cannot process.
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { ByteWriter } from "./binary.js";
import { ed25519Valid, ED25519_SPKI_PREFIX } from "./ed25519.js";
import { WireError } from "./errors.js";

export const COMMIT_KEY_BYTES = 32;
export const COMMIT_SIGNATURE_BYTES = 64;
/** The MLS exporter label members derive the epoch's commit key seed with. */
export const COMMIT_KEY_EXPORTER_LABEL = "skytale relay commit key";

/** What a GroupCommit carries for the relay: a signature by the current epoch's key and the next epoch's public key. */
export interface CommitProof {
  readonly signature: Uint8Array;
  readonly nextKey: Uint8Array;
}

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const CONTEXT = new TextEncoder().encode("skytale commit proof v1");

/** The Ed25519 key pair of an epoch, from its 32-byte exporter seed. */
export function commitKeyPair(seed: Uint8Array): { privateKey: KeyObject; publicKey: Uint8Array } {
  if (seed.length !== COMMIT_KEY_BYTES) throw new WireError("bad_field", "a commit key seed is 32 bytes");
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { privateKey, publicKey: new Uint8Array(spki.subarray(ED25519_SPKI_PREFIX.length)) };
}

/** What is signed: the channel, the epoch the commit is built on, the commit's hash and the next key. */
function signedBytes(channel: Uint8Array, epoch: bigint, commit: Uint8Array, nextKey: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(commit).digest();
  return new ByteWriter(CONTEXT.length + channel.length + 80).raw(CONTEXT).vec8(channel).u64(epoch).raw(digest).raw(nextKey).bytes();
}

/** Signs a commit built on `epoch` of `channel` with that epoch's seed, naming the next epoch's seed's key. */
export function proveCommit(channel: Uint8Array, epoch: bigint, commit: Uint8Array, seed: Uint8Array, nextSeed: Uint8Array): CommitProof {
  const nextKey = commitKeyPair(nextSeed).publicKey;
  const signature = sign(null, signedBytes(channel, epoch, commit, nextKey), commitKeyPair(seed).privateKey);
  return { signature: new Uint8Array(signature), nextKey };
}

/** Whether `proof` is a valid signature over this commit by the holder of `key`. */
export function commitProofValid(channel: Uint8Array, epoch: bigint, commit: Uint8Array, proof: CommitProof, key: Uint8Array): boolean {
  if (proof.nextKey.length !== COMMIT_KEY_BYTES) return false;
  return ed25519Valid(key, signedBytes(channel, epoch, commit, proof.nextKey), proof.signature);
}
