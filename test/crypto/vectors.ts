import { readFileSync } from "node:fs";
import {
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type Hpke,
  type Signature,
} from "ts-mls";
import { getCiphersuiteNameFromId, type CiphersuiteId } from "ts-mls/crypto/ciphersuite.js";
import { nodeCryptoProvider } from "../../src/mls/crypto/nodeProvider.js";

/**
 * Official MLS interop vectors (mlswg/mls-implementations, see /work/shared/mls-test-vectors),
 * filtered to cipher suites 1 and 3, the two this provider serves.
 */
/** An entry of the passive-client-*.json vectors. */
export interface PassiveClientVector {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

export function loadVectors<T extends { cipher_suite: number }>(file: string): T[] {
  const text = readFileSync(new URL(`../vectors/${file}.json`, import.meta.url), "utf8");
  return JSON.parse(text) as T[];
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "hex"));
}

export function suiteName(id: number): CiphersuiteName {
  return getCiphersuiteNameFromId(id as CiphersuiteId);
}

export function nodeImpl(id: number): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(suiteName(id)), nodeCryptoProvider);
}

/** Vitest test.each rows labelled "#index suite N". */
export function cases<T extends { cipher_suite: number }>(vectors: T[]): [string, T][] {
  return vectors.map((v, i) => [`#${i} suite ${v.cipher_suite}`, v]);
}

/** The HPKE private key opens what is sealed to the public key. */
export async function hpkeKeysMatch(publicKey: Uint8Array, privateKey: Uint8Array, hpke: Hpke): Promise<boolean> {
  const plaintext = new TextEncoder().encode("key match");
  const info = new Uint8Array(0);
  const { ct, enc } = await hpke.seal(await hpke.importPublicKey(publicKey), plaintext, info);
  const opened = await hpke.open(await hpke.importPrivateKey(privateKey), enc, ct, info);
  return Buffer.from(opened).equals(plaintext);
}

/** The signature private key signs what the public key verifies. */
export async function signatureKeysMatch(publicKey: Uint8Array, signKey: Uint8Array, s: Signature): Promise<boolean> {
  const message = new TextEncoder().encode("key match");
  return s.verify(publicKey, message, await s.sign(signKey, message));
}
