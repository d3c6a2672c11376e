import { createCipheriv, createDecipheriv } from "node:crypto";
import type { AeadAlgorithm } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import { concatBytes } from "./bytes.js";

const TAG_LENGTH = 16;
const NONCE_LENGTH = 12;

/** An RFC 5116 AEAD with the 16-byte tag appended to the ciphertext, as MLS and HPKE expect. */
export interface Aead {
  /** RFC 9180 identifier, part of the HPKE suite_id. */
  readonly hpkeId: number;
  readonly keyLength: number;
  readonly nonceLength: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, plaintext: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, ciphertext: Uint8Array): Uint8Array;
}

/** The part of node's CipherGCM / CipherChaCha20Poly1305 (and their deciphers) used here. */
interface AeadStream {
  /** node's typings demand plaintextLength for ChaCha20-Poly1305; GCM ignores it. */
  setAAD(aad: Uint8Array, options: { plaintextLength: number }): unknown;
  update(data: Uint8Array): Buffer;
  final(): Buffer;
}
interface AeadCipher extends AeadStream {
  getAuthTag(): Buffer;
}
interface AeadDecipher extends AeadStream {
  setAuthTag(tag: Uint8Array): unknown;
}

interface AeadSpec {
  name: string;
  hpkeId: number;
  keyLength: number;
  // One factory per cipher because node's typings overload createCipheriv per algorithm literal.
  cipher(key: Uint8Array, nonce: Uint8Array): AeadCipher;
  decipher(key: Uint8Array, nonce: Uint8Array): AeadDecipher;
}

function makeAead(spec: AeadSpec): Aead {
  // Node reports bad lengths with untyped errors; ts-mls callers expect CryptoError.
  function checkLengths(key: Uint8Array, nonce: Uint8Array): void {
    if (key.length !== spec.keyLength) {
      throw new CryptoError(`${spec.name} key must be ${spec.keyLength} bytes, got ${key.length}`);
    }
    if (nonce.length !== NONCE_LENGTH) {
      throw new CryptoError(`${spec.name} nonce must be ${NONCE_LENGTH} bytes, got ${nonce.length}`);
    }
  }

  return {
    hpkeId: spec.hpkeId,
    keyLength: spec.keyLength,
    nonceLength: NONCE_LENGTH,
    seal(key, nonce, aad, plaintext) {
      checkLengths(key, nonce);
      const c = spec.cipher(key, nonce);
      if (aad !== undefined && aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
      const body = c.update(plaintext);
      const tail = c.final();
      return concatBytes(body, tail, c.getAuthTag());
    },
    open(key, nonce, aad, ciphertext) {
      checkLengths(key, nonce);
      if (ciphertext.length < TAG_LENGTH) throw new CryptoError(`${spec.name} ciphertext is shorter than its tag`);
      const tagStart = ciphertext.length - TAG_LENGTH;
      const d = spec.decipher(key, nonce);
      d.setAuthTag(ciphertext.subarray(tagStart));
      if (aad !== undefined && aad.length > 0) d.setAAD(aad, { plaintextLength: tagStart });
      const body = d.update(ciphertext.subarray(0, tagStart));
      try {
        return concatBytes(body, d.final());
      } catch (e) {
        throw new CryptoError(`${spec.name} authentication failed: ${String(e)}`);
      } finally {
        body.fill(0); // the plaintext was copied out (or is unauthenticated): do not leave it in node's buffer
      }
    },
  };
}

const tag = { authTagLength: TAG_LENGTH } as const;

export type SupportedAead = Extract<AeadAlgorithm, "AES128GCM" | "CHACHA20POLY1305">;

export const aeads: Record<SupportedAead, Aead> = {
  AES128GCM: makeAead({
    name: "AES-128-GCM",
    hpkeId: 0x0001,
    keyLength: 16,
    cipher: (key, nonce) => createCipheriv("aes-128-gcm", key, nonce, tag),
    decipher: (key, nonce) => createDecipheriv("aes-128-gcm", key, nonce, tag),
  }),
  CHACHA20POLY1305: makeAead({
    name: "ChaCha20-Poly1305",
    hpkeId: 0x0003,
    keyLength: 32,
    cipher: (key, nonce) => createCipheriv("chacha20-poly1305", key, nonce, tag),
    decipher: (key, nonce) => createDecipheriv("chacha20-poly1305", key, nonce, tag),
  }),
};
