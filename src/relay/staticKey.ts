import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { generateStaticKeyPair, importX25519Private, publicOf, type StaticKeyPair } from "../wire/x25519.js";

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
