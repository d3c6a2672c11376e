import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { generateStaticKeyPair, importX25519Private, publicOf, type StaticKeyPair } from "../wire/x25519.js";
import { ConfigError } from "./config.js";

export const RELAY_KEY_FILE = "relay.key";

/** The relay's static X25519 key, made on first start and kept (0600) in its data dir. */
export function loadOrCreateRelayKey(dataDir: string): StaticKeyPair {
  const path = join(dataDir, RELAY_KEY_FILE);
  try {
    const fd = openSync(path, "wx", 0o600);
    try {
      writeSync(fd, generateStaticKeyPair().privateKey);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const privateKey = new Uint8Array(readFileSync(path));
  if (privateKey.length !== 32) throw new Error(`relay key file ${path} is not 32 bytes`);
  return { privateKey, publicKey: publicOf(importX25519Private(privateKey)) };
}

/** The relay's static key from a file made beforehand and shared by every node of one relay. */
export function loadRelayKeyFile(path: string, report: (line: string) => void): StaticKeyPair {
  let privateKey: Uint8Array;
  try {
    privateKey = new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new ConfigError(`cannot read the relay key file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  if (privateKey.length !== 32) throw new ConfigError(`the relay key file ${path} must hold exactly 32 bytes (it holds ${privateKey.length})`);
  if ((statSync(path).mode & 0o077) !== 0) report(`the relay key file ${path} can be read by other users of this machine: chmod 600 it`);
  return { privateKey, publicKey: publicOf(importX25519Private(privateKey)) };
}
