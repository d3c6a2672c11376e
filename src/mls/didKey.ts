import { createHash } from "node:crypto";
import { base58 } from "@scure/base";
import { MlsError } from "./errors.js";

/**
 * How people and tools name an agent's identity key (its long-term Ed25519 key, which is the
 * agent): a `did:key` (W3C did:key, multicodec ed25519-pub 0xed01, base58btc with the 'z' prefix),
 * and a safety code short enough to read aloud and compare.
 */
const ED25519_PUB_MULTICODEC = new Uint8Array([0xed, 0x01]);
const DID_KEY_PREFIX = "did:key:z";
const KEY_BYTES = 32;
const SAFETY_CODE_LABEL = "skytale safety code v1";
/** Four groups of five digits (about 66 bits): enough that nobody can make a key to match another's. */
const SAFETY_CODE_GROUPS = 4;

/** The did:key of an Ed25519 public key. */
export function didKeyOf(publicKey: Uint8Array): string {
  if (publicKey.length !== KEY_BYTES) throw new MlsError("bad_request", "an identity key is 32 bytes");
  const multikey = new Uint8Array(ED25519_PUB_MULTICODEC.length + KEY_BYTES);
  multikey.set(ED25519_PUB_MULTICODEC);
  multikey.set(publicKey, ED25519_PUB_MULTICODEC.length);
  return DID_KEY_PREFIX + base58.encode(multikey);
}

/** The Ed25519 public key a did:key names; bad_request for anything else. */
export function keyOfDidKey(did: string): Uint8Array {
  const text = did.trim();
  if (!text.startsWith(DID_KEY_PREFIX) || text.length > 64) throw new MlsError("bad_request", "not an Ed25519 did:key (it starts with 'did:key:z6Mk')");
  let multikey: Uint8Array;
  try {
    multikey = base58.decode(text.slice(DID_KEY_PREFIX.length));
  } catch {
    throw new MlsError("bad_request", "that did:key is damaged (not base58); copy it again");
  }
  if (multikey.length !== ED25519_PUB_MULTICODEC.length + KEY_BYTES || multikey[0] !== ED25519_PUB_MULTICODEC[0] || multikey[1] !== ED25519_PUB_MULTICODEC[1]) {
    throw new MlsError("bad_request", "that did:key is not an Ed25519 key");
  }
  return multikey.slice(ED25519_PUB_MULTICODEC.length);
}

/**
 * The safety code of an identity key: twenty digits in four groups ("01234 56789 01234 56789"),
 * each group five bytes of SHA-256 taken modulo 100,000 as Signal's safety numbers do.
 */
export function safetyCodeOf(publicKey: Uint8Array): string {
  const digest = createHash("sha256").update(SAFETY_CODE_LABEL).update(publicKey).digest();
  const groups: string[] = [];
  for (let i = 0; i < SAFETY_CODE_GROUPS; i++) {
    const value = digest.readUIntBE(i * 5, 5) % 100_000;
    groups.push(value.toString().padStart(5, "0"));
  }
  return groups.join(" ");
}

/** A safety code as people type it (any spacing or dashes), normalised; undefined if it is not one. */
export function normaliseSafetyCode(code: string): string | undefined {
  const digits = code.replace(/[\s-]/g, "");
  if (!/^[0-9]{20}$/.test(digits)) return undefined;
  return digits.match(/.{5}/g)!.join(" ");
}
