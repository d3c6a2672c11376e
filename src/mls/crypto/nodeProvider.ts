import { randomFillSync } from "node:crypto";
import type { Ciphersuite, CiphersuiteImpl, CiphersuiteName, CryptoProvider, Kdf, Rng } from "ts-mls";
import { aeads, type SupportedAead } from "./aead.js";
import { sha256Hash } from "./hash.js";
import { hkdfExpand, hkdfExtract } from "./hkdf.js";
import { SHA256_SIZE } from "./sha256.js";
import { makeHpke } from "./hpke.js";
import { ed25519Signature } from "./signature.js";

/** The suites served here: X25519 + SHA-256 + Ed25519, differing only in the AEAD. */
const supportedSuites: Partial<Record<CiphersuiteName, SupportedAead>> = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: "AES128GCM",
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: "CHACHA20POLY1305",
};

/** Thrown for any other suite; callers can fall back to ts-mls's defaultCryptoProvider. */
export class UnsupportedCiphersuiteError extends Error {
  override readonly name = "UnsupportedCiphersuiteError";
  constructor(readonly ciphersuite: CiphersuiteName) {
    super(
      `nodeCryptoProvider does not support ${ciphersuite}; supported: ${Object.keys(supportedSuites).join(", ")}`,
    );
  }
}

const hkdfSha256: Kdf = {
  async extract(salt, ikm) {
    return hkdfExtract(salt, ikm);
  },
  async expand(prk, info, len) {
    return hkdfExpand(prk, info, len);
  },
  size: SHA256_SIZE,
};

const nodeRng: Rng = {
  randomBytes(n) {
    return randomFillSync(new Uint8Array(n));
  },
};

/** The implementations are stateless apart from key caches, so one per suite is shared. */
const impls = new Map<CiphersuiteName, CiphersuiteImpl>();

function buildImpl(name: CiphersuiteName, aead: SupportedAead): CiphersuiteImpl {
  return {
    hash: sha256Hash,
    hpke: makeHpke(aeads[aead]),
    signature: ed25519Signature,
    kdf: hkdfSha256,
    rng: nodeRng,
    name,
  };
}

/**
 * A ts-mls CryptoProvider on node:crypto alone (OpenSSL): no WebCrypto key import per operation
 * and no @hpke/core, with imported signing and verification keys cached.
 */
export const nodeCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
    const aead = supportedSuites[cs.name];
    if (aead === undefined) throw new UnsupportedCiphersuiteError(cs.name);
    let impl = impls.get(cs.name);
    if (impl === undefined) {
      impl = buildImpl(cs.name, aead);
      impls.set(cs.name, impl);
    }
    return impl;
  },
};
