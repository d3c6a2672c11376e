import { createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import type { Hpke, PrivateKey, PublicKey } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import type { Aead } from "./aead.js";
import { bytesEqual, concatBytes, i2osp, toBytes, utf8 } from "./bytes.js";
import { hkdfExpand, hkdfExtract } from "./hkdf.js";
import { SHA256_SIZE } from "./sha256.js";
import { cachedPublicKey, freshKey, importPrivateKey, importPublicKey, rawPublicKeyOf } from "./keys.js";

// RFC 9180 identifiers: DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256.
const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const MODE_BASE = 0x00;
const N_SECRET = SHA256_SIZE;
const N_SK = 32;

const HPKE_V1 = utf8("HPKE-v1");
const EMPTY = new Uint8Array(0);

class HpkePublicKeyHandle {
  readonly type = "public";
  constructor(
    readonly key: KeyObject,
    readonly raw: Uint8Array,
  ) {}
}

class HpkePrivateKeyHandle {
  readonly type = "private";
  constructor(
    readonly key: KeyObject,
    readonly raw: Uint8Array,
    /** pkRm of the KEM context on decapsulation. */
    readonly publicRaw: Uint8Array,
  ) {}
}

/*
 * ts-mls types HPKE keys as WebCrypto CryptoKeys, but never looks inside them: every key it holds
 * came from this Hpke and only ever goes back into it. So a handle stands in for the CryptoKey;
 * this is the one place that tells the compiler so.
 */
function toOpaque(handle: HpkePublicKeyHandle): PublicKey;
function toOpaque(handle: HpkePrivateKeyHandle): PrivateKey;
function toOpaque(handle: HpkePublicKeyHandle | HpkePrivateKeyHandle): PublicKey | PrivateKey {
  return handle as unknown as PublicKey | PrivateKey;
}

function publicHandle(key: PublicKey): HpkePublicKeyHandle {
  if (key instanceof HpkePublicKeyHandle) return key;
  throw new CryptoError("HPKE public key was not created by nodeCryptoProvider");
}

function privateHandle(key: PrivateKey): HpkePrivateKeyHandle {
  if (key instanceof HpkePrivateKeyHandle) return key;
  throw new CryptoError("HPKE private key was not created by nodeCryptoProvider");
}

/** Copies `raw`: ts-mls zeroes key buffers it has finished with, while the handle may live on. */
function privateHandleFromRaw(raw: Uint8Array): HpkePrivateKeyHandle {
  const key = importPrivateKey("X25519", raw);
  return new HpkePrivateKeyHandle(key, toBytes(raw), rawPublicKeyOf(key));
}

function keyPairOf(privateKey: HpkePrivateKeyHandle): { privateKey: PrivateKey; publicKey: PublicKey } {
  const publicKey = new HpkePublicKeyHandle(createPublicKey(privateKey.key), privateKey.publicRaw);
  return { privateKey: toOpaque(privateKey), publicKey: toOpaque(publicKey) };
}

function generateHandles(): { privateKey: HpkePrivateKeyHandle; publicKey: HpkePublicKeyHandle } {
  const { key, privateRaw, publicRaw } = freshKey("X25519");
  return {
    privateKey: new HpkePrivateKeyHandle(key, privateRaw, publicRaw),
    publicKey: new HpkePublicKeyHandle(createPublicKey(key), publicRaw),
  };
}

/** X25519 shared secret; RFC 9180 §7.1.4 requires rejecting the all-zero output of small-order points. */
function dh(privateKey: KeyObject, publicKey: KeyObject): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = toBytes(diffieHellman({ privateKey, publicKey }));
  } catch (e) {
    throw new CryptoError(`X25519 failed: ${String(e)}`);
  }
  if (shared.every((b) => b === 0)) throw new CryptoError("X25519 produced the all-zero shared secret");
  return shared;
}

/**
 * RFC 9180 LabeledExtract / LabeledExpand bound to one suite_id. The fixed part of each labeled
 * input ("HPKE-v1" || suite_id || label) is encoded once per label, and the parts go to HKDF
 * unjoined: a commit in a large group runs these for every recipient.
 */
function labeled(suiteId: Uint8Array) {
  const prefixes = new Map<string, Uint8Array>();
  const prefix = (label: string): Uint8Array => {
    let bytes = prefixes.get(label);
    if (bytes === undefined) {
      bytes = concatBytes(HPKE_V1, suiteId, utf8(label));
      prefixes.set(label, bytes);
    }
    return bytes;
  };
  return {
    extract(salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
      return hkdfExtract(salt, [prefix(label), ikm]);
    },
    expand(prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
      return hkdfExpand(prk, [i2osp(length, 2), prefix(label), info], length);
    },
  };
}

const kem = labeled(concatBytes(utf8("KEM"), i2osp(KEM_ID, 2)));

/** DHKEM ExtractAndExpand (RFC 9180 §4.1). */
function extractAndExpand(dhSecret: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = kem.extract(EMPTY, "eae_prk", dhSecret);
  dhSecret.fill(0);
  return kem.expand(eaePrk, "shared_secret", kemContext, N_SECRET);
}

function encap(recipient: HpkePublicKeyHandle): { sharedSecret: Uint8Array; enc: Uint8Array } {
  const ephemeral = freshKey("X25519");
  const enc = ephemeral.publicRaw;
  ephemeral.privateRaw.fill(0);
  const sharedSecret = extractAndExpand(dh(ephemeral.key, recipient.key), concatBytes(enc, recipient.raw));
  return { sharedSecret, enc };
}

function decap(enc: Uint8Array, recipient: HpkePrivateKeyHandle): Uint8Array {
  const ephemeral = importPublicKey("X25519", enc);
  return extractAndExpand(dh(recipient.key, ephemeral), concatBytes(enc, recipient.publicRaw));
}

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519: the expanded bytes are the private key (X25519 clamps on use). */
function deriveHandle(ikm: Uint8Array): HpkePrivateKeyHandle {
  const dkpPrk = kem.extract(EMPTY, "dkp_prk", ikm);
  const sk = kem.expand(dkpPrk, "sk", EMPTY, N_SK);
  dkpPrk.fill(0);
  try {
    return privateHandleFromRaw(sk);
  } finally {
    sk.fill(0);
  }
}

/** What a single-shot seal or open needs of the key schedule (the exporter secret is left out). */
interface SealingContext {
  key: Uint8Array;
  baseNonce: Uint8Array;
}

/** Any failure while opening or importing becomes ts-mls's CryptoError, as with its default provider. */
function asCryptoError<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    throw e instanceof CryptoError ? e : new CryptoError(`${what}: ${String(e)}`);
  }
}

/** RFC 9180 base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and the given AEAD; single-shot (seq 0). */
export function makeHpke(aead: Aead): Hpke {
  const hpke = labeled(concatBytes(utf8("HPKE"), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(aead.hpkeId, 2)));
  // Base mode has no PSK, so psk_id_hash is a constant of the suite.
  const pskIdHash = hpke.extract(EMPTY, "psk_id_hash", EMPTY);

  /*
   * key_schedule_context depends only on info, and a commit encrypts its path secrets to every
   * recipient under the same info (the new GroupContext): keep the last one. Info is public.
   */
  let lastInfo: Uint8Array | undefined;
  let lastContext: Uint8Array = EMPTY;
  function scheduleContext(info: Uint8Array): Uint8Array {
    if (lastInfo === undefined || !bytesEqual(lastInfo, info)) {
      const infoHash = hpke.extract(EMPTY, "info_hash", info);
      lastContext = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
      lastInfo = toBytes(info);
    }
    return lastContext;
  }

  /** RFC 9180 KeySchedule's `secret`; zeroes the shared secret it consumes. */
  function scheduleSecret(sharedSecret: Uint8Array): Uint8Array {
    const secret = hpke.extract(sharedSecret, "secret", EMPTY);
    sharedSecret.fill(0);
    return secret;
  }

  function sealingContext(sharedSecret: Uint8Array, info: Uint8Array): SealingContext {
    const context = scheduleContext(info);
    const secret = scheduleSecret(sharedSecret);
    const result = {
      key: hpke.expand(secret, "key", context, aead.keyLength),
      baseNonce: hpke.expand(secret, "base_nonce", context, aead.nonceLength),
    };
    secret.fill(0);
    return result;
  }

  /** The exporter secret of the context, and from it Export(exporterContext, length). */
  function exportSecret(sharedSecret: Uint8Array, info: Uint8Array, exporterContext: Uint8Array, length: number): Uint8Array {
    const context = scheduleContext(info);
    const secret = scheduleSecret(sharedSecret);
    const exporterSecret = hpke.expand(secret, "exp", context, SHA256_SIZE);
    secret.fill(0);
    try {
      return hpke.expand(exporterSecret, "sec", exporterContext, length);
    } finally {
      exporterSecret.fill(0);
    }
  }

  function wipe(ctx: SealingContext): void {
    ctx.key.fill(0);
    ctx.baseNonce.fill(0);
  }

  return {
    keyLength: aead.keyLength,
    nonceLength: aead.nonceLength,

    async seal(publicKey, plaintext, info, aad) {
      const { sharedSecret, enc } = encap(publicHandle(publicKey));
      const ctx = sealingContext(sharedSecret, info);
      const ct = aead.seal(ctx.key, ctx.baseNonce, aad, plaintext);
      wipe(ctx);
      return { ct, enc };
    },

    async open(privateKey, kemOutput, ciphertext, info, aad) {
      return asCryptoError("HPKE open failed", () => {
        const ctx = sealingContext(decap(kemOutput, privateHandle(privateKey)), info);
        try {
          return aead.open(ctx.key, ctx.baseNonce, aad, ciphertext);
        } finally {
          wipe(ctx);
        }
      });
    },

    async exportSecret(publicKey, exporterContext, length, info) {
      const { sharedSecret, enc } = encap(publicHandle(publicKey));
      return { enc, secret: exportSecret(sharedSecret, info, exporterContext, length) };
    },

    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      return asCryptoError("HPKE import of exported secret failed", () =>
        exportSecret(decap(kemOutput, privateHandle(privateKey)), info, exporterContext, length),
      );
    },

    async importPrivateKey(k) {
      return asCryptoError("invalid HPKE private key", () => toOpaque(privateHandleFromRaw(k)));
    },

    async importPublicKey(k) {
      return asCryptoError("invalid HPKE public key", () =>
        toOpaque(new HpkePublicKeyHandle(cachedPublicKey("X25519", k), toBytes(k))),
      );
    },

    async exportPublicKey(k) {
      return toBytes(publicHandle(k).raw);
    },

    async exportPrivateKey(k) {
      return toBytes(privateHandle(k).raw);
    },

    async encryptAead(key, nonce, aad, plaintext) {
      return aead.seal(key, nonce, aad, plaintext);
    },

    async decryptAead(key, nonce, aad, ciphertext) {
      return aead.open(key, nonce, aad, ciphertext);
    },

    async deriveKeyPair(ikm) {
      return keyPairOf(deriveHandle(ikm));
    },

    async generateKeyPair() {
      const { privateKey, publicKey } = generateHandles();
      return { privateKey: toOpaque(privateKey), publicKey: toOpaque(publicKey) };
    },
  };
}
