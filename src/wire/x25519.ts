import { createPrivateKey, createPublicKey, diffieHellman, randomFillSync, type KeyObject } from "node:crypto";
import { WireError } from "./errors.js";

/** A raw X25519 key pair, as kept in config and data dirs. */
export interface StaticKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

const KEY_BYTES = 32;
const PLACEHOLDER_X = Buffer.alloc(KEY_BYTES).toString("base64url");

/**
 * Keys come from 32 CSPRNG bytes, never `generateKeyPairSync`: in node 20 a JWK export of a key
 * made that way can deadlock the thread against the garbage collector (see freshKey in
 * src/mls/crypto/keys.ts).
 */
export function generateX25519(): { privateKey: KeyObject; publicKey: Uint8Array } {
  const raw = randomFillSync(new Uint8Array(KEY_BYTES));
  try {
    const privateKey = importX25519Private(raw);
    return { privateKey, publicKey: publicOf(privateKey) };
  } finally {
    raw.fill(0);
  }
}

/** A new static key pair for a relay. */
export function generateStaticKeyPair(): StaticKeyPair {
  const privateKey = randomFillSync(new Uint8Array(KEY_BYTES));
  return { publicKey: publicOf(importX25519Private(privateKey)), privateKey };
}

/** Imports a raw private key; node derives the public half from `d` and ignores the placeholder `x`. */
export function importX25519Private(raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_BYTES) throw new WireError("bad_field", "X25519 private key must be 32 bytes");
  // A view, not a copy: a 32-byte copy would land in node's shared pool, out of reach of fill(0).
  const d = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
  return createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: PLACEHOLDER_X }, format: "jwk" });
}

function importX25519Public(raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_BYTES) throw new WireError("bad_field", "X25519 public key must be 32 bytes");
  try {
    return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
  } catch {
    throw new WireError("handshake_failed", "invalid X25519 public key");
  }
}

export function rawPublic(key: KeyObject): Uint8Array {
  const x = key.export({ format: "jwk" }).x;
  if (x === undefined) throw new WireError("handshake_failed", "key export failed");
  return new Uint8Array(Buffer.from(x, "base64url"));
}

export function publicOf(privateKey: KeyObject): Uint8Array {
  return rawPublic(createPublicKey(privateKey));
}

/** X25519 shared secret; an all-zero result (a low-order peer key) is refused. */
export function dh(privateKey: KeyObject, peerPublic: Uint8Array): Uint8Array {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey: importX25519Public(peerPublic) });
  } catch {
    throw new WireError("handshake_failed", "key agreement failed");
  }
  if (shared.every((b) => b === 0)) throw new WireError("handshake_failed", "low-order public key");
  return new Uint8Array(shared);
}
