import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { StoreError } from "./errors.js";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT_VERSION = 1;

/** scrypt cost for SKYTALE_PASSPHRASE: about 100 ms and 32 MiB, paid once per start. */
export const SCRYPT_PARAMS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/**
 * AES-256-GCM for everything secret the store keeps (state blobs, private keys, plaintexts).
 * Each value is bound to where it lives (the `context`, used as AAD), so a value copied into
 * another row or table fails to open instead of being accepted as that row's.
 */
export class AtRestCipher {
  private constructor(private readonly key: Buffer) {}

  /** The key derived from a passphrase with scrypt and a per-store salt. */
  static fromPassphrase(passphrase: string, salt: Uint8Array): AtRestCipher {
    return new AtRestCipher(scryptSync(passphrase.normalize("NFC"), salt, KEY_BYTES, SCRYPT_PARAMS));
  }

  /** The key kept in a 0600 file beside the database, created on first use. */
  static fromKeyFile(path: string): AtRestCipher {
    let key: Buffer;
    try {
      key = readFileSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new StoreError("io", `cannot read key file ${path}`, { cause: error });
      key = createKeyFile(path);
    }
    if (key.length !== KEY_BYTES) throw new StoreError("corrupt", `key file ${path} is not ${KEY_BYTES} bytes`);
    return new AtRestCipher(key);
  }

  /** Encrypts `plaintext`, bound to `context`. */
  seal(plaintext: Uint8Array, context: string): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce);
    cipher.setAAD(Buffer.from(context));
    // One concatenation: a group state is about 1 MB at 1,000 members and sealed on every change.
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    return Buffer.concat([Buffer.of(FORMAT_VERSION), nonce, body, tail, cipher.getAuthTag()]);
  }

  /** Decrypts a value sealed for `context`; throws corrupt for anything else. */
  open(sealed: Uint8Array, context: string): Uint8Array {
    if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) {
      throw new StoreError("corrupt", `stored value for ${context} is malformed`);
    }
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", this.key, nonce);
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch (cause) {
      throw new StoreError("corrupt", `stored value for ${context} failed authentication`, { cause });
    }
  }
}

/**
 * Writes a new key durably before anything is sealed with it: temp file, fsync, rename, fsync of
 * the directory. A power cut can then leave no key file or a whole one, never an empty one.
 */
function createKeyFile(path: string): Buffer {
  const key = randomBytes(KEY_BYTES);
  const temp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temp, "wx", 0o600);
    try {
      writeSync(fd, key);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    const dir = openSync(dirname(path), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (cause) {
    throw new StoreError("io", `cannot create key file ${path}`, { cause });
  }
  return key;
}
