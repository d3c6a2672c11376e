import { createHash } from "node:crypto";
import { decodeMlsMessage, encodeMlsMessage, type MLSMessage } from "ts-mls";
import type { KeyPackage } from "ts-mls";
import type { PrivateMessage } from "ts-mls/privateMessage.js";
import type { Welcome } from "ts-mls/welcome.js";
import { MlsError } from "./errors.js";

/** Decodes a whole MLSMessage; trailing bytes or any codec failure is bad_message. */
export function decodeMessage(bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new MlsError("bad_message", "not a valid MLS message", { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new MlsError("bad_message", "not a valid MLS message");
  }
  return decoded[0];
}

export function decodeKeyPackageMessage(bytes: Uint8Array): KeyPackage {
  const message = decodeMessage(bytes);
  if (message.wireformat !== "mls_key_package") throw new MlsError("bad_message", "expected an MLS KeyPackage");
  return message.keyPackage;
}

export function decodeWelcomeMessage(bytes: Uint8Array): Welcome {
  const message = decodeMessage(bytes);
  if (message.wireformat !== "mls_welcome") throw new MlsError("invalid_welcome", "expected an MLS Welcome");
  return message.welcome;
}

export function encodeKeyPackageMessage(keyPackage: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage });
}

export function encodeWelcomeMessage(welcome: Welcome): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome });
}

export function encodePrivateMessage(privateMessage: PrivateMessage): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage });
}

/** Names an encoded MLS message by its bytes (echoes and relay answers hand back what was sent). */
export function messageDigest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}
