// Identity keys for tests: an agent is its Ed25519 key. A test agent's key is derived from its
// name, so a raw relay link named "alice" and an MLS agent opened as "alice" (helpers.openAgent)
// are the same agent to the relay, as a real agent's link and MLS engine are.
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { CHANNEL_NONCE_BYTES, channelIdFor, channelOpenBytes } from "../src/wire/channelOpen.js";
import { commitKeyPair, proveCommit, type CommitProof } from "../src/wire/commitProof.js";
import { linkAuthBytes } from "../src/wire/linkAuth.js";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX_LENGTH = 12;

export interface TestIdentity {
  readonly name: string;
  /** The 32-byte public identity key. */
  readonly key: Uint8Array;
  /** The 32-byte private seed (what MLS stores as the signature private key). */
  readonly seed: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
  /** Authenticates a relay link (wire/linkAuth.ts), as RelayClient's `identity.prove`. */
  prove(binding: Uint8Array): Promise<Uint8Array>;
}

/** The identity of test agent `name` (the same every time); `variant` gives the same name another key. */
export function testIdentity(name: string, variant = ""): TestIdentity {
  const seed = new Uint8Array(createHash("sha256").update("skytale test identity").update(name).update(variant).digest());
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const key = new Uint8Array(createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX_LENGTH));
  const signWith = (message: Uint8Array) => new Uint8Array(sign(null, message, privateKey));
  return { name, key, seed, sign: signWith, prove: async (binding) => signWith(linkAuthBytes(binding, name)) };
}

/** The identity key of test agent `name`. */
export function testKeyOf(name: string): Uint8Array {
  return testIdentity(name).key;
}

/**
 * A channel opened by `creator` at a relay, for tests that send hand-made MLS-shaped frames: the
 * opening the relay checks, and commit proofs with per-epoch commit keys derived from `label`.
 */
export function testChannel(creator: TestIdentity, label = "") {
  const nonce = new Uint8Array(createHash("sha256").update("test channel nonce").update(label).digest().subarray(0, CHANNEL_NONCE_BYTES));
  const channel = channelIdFor(creator.key, nonce);
  const seed = (epoch: bigint) => new Uint8Array(createHash("sha256").update("test commit key").update(label).update(String(epoch)).digest());
  const commitKey = commitKeyPair(seed(0n)).publicKey;
  const opening = { channel, nonce, commitKey, signature: creator.sign(channelOpenBytes(channel, nonce, commitKey)) };
  return {
    channel,
    opening,
    /** The proof a commit built on `epoch` needs. */
    proof: (commit: Uint8Array, epoch: bigint): CommitProof => proveCommit(channel, epoch, commit, seed(epoch), seed(epoch + 1n)),
  };
}
