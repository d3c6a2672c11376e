import { createHash, createPrivateKey, createPublicKey, randomFillSync, timingSafeEqual, type KeyObject } from "node:crypto";
import { CryptoError } from "ts-mls/mlsError.js";

/** The two RFC 8410 curves of suites 1 and 3: X25519 for HPKE, Ed25519 for signatures. */
export type OkpCurve = "X25519" | "Ed25519";

export const RAW_KEY_LENGTH = 32;

/** PKCS#8 header of a 32-byte Ed25519 key (SEQUENCE, version 0, algorithm OID, OCTET STRING): ts-mls's default provider stores keys this way. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const PKCS8_LENGTH = ED25519_PKCS8_PREFIX.length + RAW_KEY_LENGTH;

function checkRawLength(curve: OkpCurve, kind: string, raw: Uint8Array): void {
  if (raw.length !== RAW_KEY_LENGTH) {
    throw new CryptoError(`${curve} ${kind} key must be ${RAW_KEY_LENGTH} bytes, got ${raw.length}`);
  }
}

function importPkcs8(curve: OkpCurve, der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch (e) {
    throw new CryptoError(`invalid ${curve} private key: ${String(e)}`);
  }
}

/** A well-formed but meaningless `x` for private JWKs: node derives the public key from `d`. */
const PLACEHOLDER_X = Buffer.alloc(RAW_KEY_LENGTH).toString("base64url");

/**
 * Raw 32-byte private key → KeyObject via JWK. Node 20 has no raw import; PKCS#8 DER goes through
 * OpenSSL 3's generic decoder (~300 µs), JWK takes ~23 µs. Node requires an `x` member in a private
 * OKP JWK but derives the public key from `d` and ignores `x` (test/crypto/keys.test.ts pins this;
 * the signature vectors would fail otherwise, since Ed25519 hashes the public key into each signature).
 */
export function importPrivateKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  checkRawLength(curve, "private", raw);
  const d = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
  try {
    return createPrivateKey({ key: { kty: "OKP", crv: curve, d, x: PLACEHOLDER_X }, format: "jwk" });
  } catch (e) {
    throw new CryptoError(`invalid ${curve} private key: ${String(e)}`);
  }
}

/**
 * Raw 32-byte public key → KeyObject via JWK: a public OKP JWK is just the raw key in base64url,
 * and node imports it ~15x faster than the equivalent SPKI DER (no OpenSSL decoder lookup).
 */
export function importPublicKey(curve: OkpCurve, raw: Uint8Array): KeyObject {
  checkRawLength(curve, "public", raw);
  return importPublicJwkX(curve, Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url"));
}

function importPublicJwkX(curve: OkpCurve, x: string): KeyObject {
  try {
    return createPublicKey({ key: { kty: "OKP", crv: curve, x }, format: "jwk" });
  } catch (e) {
    throw new CryptoError(`invalid ${curve} public key: ${String(e)}`);
  }
}

function jwkField(key: KeyObject, field: "x" | "d"): Uint8Array {
  const value = key.export({ format: "jwk" })[field];
  if (value === undefined) throw new CryptoError(`key has no JWK "${field}" member`);
  return new Uint8Array(Buffer.from(value, "base64url")); // copy: short base64 decodes land in node's shared pool
}

/** Raw public key bytes; JWK export skips the DER encoder, ~50x cheaper than SPKI export. */
export function exportRawPublicKey(key: KeyObject): Uint8Array {
  return jwkField(key, "x");
}

/** Public half of a private KeyObject, as raw bytes. */
export function rawPublicKeyOf(privateKey: KeyObject): Uint8Array {
  return exportRawPublicKey(createPublicKey(privateKey));
}

/** A fresh key pair: the private KeyObject with its raw bytes, and the raw public key. */
export interface FreshOkpKey {
  readonly key: KeyObject;
  readonly privateRaw: Uint8Array;
  readonly publicRaw: Uint8Array;
}

/**
 * A new key from 32 bytes of node's CSPRNG (any 32 bytes are a valid X25519 or Ed25519 private
 * key). Never `generateKeyPairSync`: in node 20 the key-generation job left behind for the garbage
 * collector shares a mutex with the keys it made, and a JWK export of one of them holds that mutex
 * while allocating; a collection at that moment runs the job's destructor, which takes the same
 * mutex, and the thread deadlocks for good (test/crypto/keygenDeadlock.test.ts).
 */
export function freshKey(curve: OkpCurve): FreshOkpKey {
  const privateRaw = randomFillSync(new Uint8Array(RAW_KEY_LENGTH));
  const key = importPrivateKey(curve, privateRaw);
  return { key, privateRaw, publicRaw: rawPublicKeyOf(key) };
}

interface CachedSigningKey {
  key: KeyObject;
  /** SHA-256 of the key bytes it was imported from: detects a buffer zeroed or rewritten in place. */
  fingerprint: Buffer;
}

/**
 * Imported signing keys, keyed by the caller's buffer object: ts-mls passes the same
 * signaturePrivateKey array from the group state on every signature. A WeakMap keeps no key
 * bytes reachable and drops the entry together with the state.
 */
const signingKeys = new WeakMap<Uint8Array, CachedSigningKey>();

function fingerprintOf(keyBytes: Uint8Array): Buffer {
  return createHash("sha256").update(keyBytes).digest();
}

/** Ed25519 signing key from 32 raw bytes or the 48-byte PKCS#8 form (what ts-mls's default provider generates). */
export function ed25519SigningKey(signKey: Uint8Array): KeyObject {
  const fingerprint = fingerprintOf(signKey);
  const cached = signingKeys.get(signKey);
  if (cached !== undefined && timingSafeEqual(cached.fingerprint, fingerprint)) return cached.key;
  const key = importEd25519SigningKey(signKey);
  signingKeys.set(signKey, { key, fingerprint });
  return key;
}

/** Seeds the cache for a freshly generated key, sparing its first signature the import. */
export function rememberEd25519SigningKey(signKey: Uint8Array, key: KeyObject): void {
  signingKeys.set(signKey, { key, fingerprint: fingerprintOf(signKey) });
}

function importEd25519SigningKey(signKey: Uint8Array): KeyObject {
  if (signKey.length === RAW_KEY_LENGTH) return importPrivateKey("Ed25519", signKey);
  const prefix = ED25519_PKCS8_PREFIX;
  if (signKey.length === PKCS8_LENGTH && prefix.equals(signKey.subarray(0, prefix.length))) {
    return importPkcs8("Ed25519", Buffer.from(signKey.buffer, signKey.byteOffset, signKey.byteLength));
  }
  throw new CryptoError(
    `Ed25519 signing key must be ${RAW_KEY_LENGTH} raw or ${PKCS8_LENGTH} PKCS#8 bytes, got ${signKey.length}`,
  );
}

/**
 * Public KeyObjects of recently seen keys, per curve, keyed by their bytes and bounded LRU: the
 * Ed25519 keys of recent senders, and the X25519 keys a commit's UpdatePath is encrypted to
 * (ts-mls imports every recipient's key for every commit: 1,000 imports at 1,000 members).
 */
const PUBLIC_KEY_CACHE_SIZE: Record<OkpCurve, number> = { Ed25519: 1024, X25519: 4096 };
const publicKeys: Record<OkpCurve, Map<string, KeyObject>> = { Ed25519: new Map(), X25519: new Map() };

export function cachedPublicKey(curve: OkpCurve, publicKey: Uint8Array): KeyObject {
  checkRawLength(curve, "public", publicKey);
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("base64url");
  const cache = publicKeys[curve];
  const cached = cache.get(x);
  if (cached !== undefined) {
    // Map iteration order is insertion order: re-inserting marks the entry most recently used.
    cache.delete(x);
    cache.set(x, cached);
    return cached;
  }
  const key = importPublicJwkX(curve, x);
  cache.set(x, key);
  if (cache.size > PUBLIC_KEY_CACHE_SIZE[curve]) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  return key;
}

export function ed25519VerifyKey(publicKey: Uint8Array): KeyObject {
  return cachedPublicKey("Ed25519", publicKey);
}
