import { defaultCapabilities, generateKeyPackageWithKey, type CiphersuiteImpl, type KeyPackage } from "ts-mls";
import type { PrivateKeyPackage } from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { MlsError } from "./errors.js";
import { credentialFor, type Identity } from "./identity.js";
import { encodeKeyPackageMessage } from "./messages.js";
import { SENT_TIME_CAPABILITY } from "./capabilities.js";
import { PACKED_PAYLOADS_CAPABILITY } from "./packedPayloads.js";
import type { StoredKeyPackage } from "../store/records.js";
import { KEY_PACKAGE_LIFETIME_SECONDS, SUPPORTED_SUITES } from "./suite.js";

/** Tolerated clock skew between agents when a key package starts to be valid. */
const CLOCK_SKEW_SECONDS = 3600;

/** Private-use GroupContext extension that carries the channel name to members (never the relay). */
export const CHANNEL_NAME_EXTENSION = 0xf5a1;
/** Private-use GroupContext extension binding a channel to its creator (genesis.ts). */
export const GENESIS_EXTENSION = 0xf5a3;

export interface FreshKeyPackage {
  readonly keyPackage: KeyPackage;
  readonly privateKeys: PrivateKeyPackage;
  readonly stored: StoredKeyPackage;
}

/** A fresh single-use key package signed with the agent's identity key. */
export async function createKeyPackage(identity: Identity, cs: CiphersuiteImpl, nowSeconds: number): Promise<FreshKeyPackage> {
  const notBefore = nowSeconds - CLOCK_SKEW_SECONDS;
  // Only what this agent really handles (RFC 9420 §13.4: a client MUST support what it advertises):
  // the suites our provider serves, basic credentials, and our private extensions.
  const capabilities = { ...defaultCapabilities(), ciphersuites: SUPPORTED_SUITES, credentials: ["basic" as const] };
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credentialFor(identity.name, identity.signaturePublicKey),
    { ...capabilities, extensions: [...capabilities.extensions, CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION, PACKED_PAYLOADS_CAPABILITY, SENT_TIME_CAPABILITY] },
    { notBefore: BigInt(notBefore), notAfter: BigInt(nowSeconds + KEY_PACKAGE_LIFETIME_SECONDS) },
    [],
    { signKey: identity.signaturePrivateKey, publicKey: identity.signaturePublicKey },
    cs,
  );
  const stored = {
    ref: await makeKeyPackageRef(publicPackage, cs.hash),
    publicPackage: encodeKeyPackageMessage(publicPackage),
    privatePackage: encodePrivateKeys(privatePackage),
    notAfter: nowSeconds + KEY_PACKAGE_LIFETIME_SECONDS,
  };
  return { keyPackage: publicPackage, privateKeys: privatePackage, stored };
}

/** Throws expired_key_package unless `now` lies inside the package's lifetime. */
export function assertKeyPackageLive(keyPackage: KeyPackage, nowSeconds: number): void {
  const { leafNode } = keyPackage;
  if (leafNode.leafNodeSource !== "key_package") throw new MlsError("bad_message", "key package without a lifetime");
  const { notBefore, notAfter } = leafNode.lifetime;
  const now = BigInt(nowSeconds);
  if (now < notBefore || now > notAfter) {
    throw new MlsError("expired_key_package", "the key package is outside its lifetime; ask the agent for a new one");
  }
  if (notAfter - notBefore > BigInt(KEY_PACKAGE_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS)) {
    throw new MlsError("expired_key_package", "the key package claims a lifetime longer than 30 days; ask the agent for a new one");
  }
}

/**
 * The private half of a key package minus the signature key (that is the identity key, stored
 * once): init key and HPKE leaf key, each with a one-byte length.
 */
function encodePrivateKeys(keys: PrivateKeyPackage): Uint8Array {
  const { initPrivateKey: init, hpkePrivateKey: hpke } = keys;
  const out = new Uint8Array(2 + init.length + hpke.length);
  out[0] = init.length;
  out.set(init, 1);
  out[1 + init.length] = hpke.length;
  out.set(hpke, 2 + init.length);
  return out;
}

/** Rebuilds the PrivateKeyPackage from storage and the identity's signature key. */
export function decodePrivateKeys(bytes: Uint8Array, identity: Identity): PrivateKeyPackage {
  const initLength = bytes[0] ?? 0;
  const hpkeLength = bytes[1 + initLength] ?? 0;
  if (bytes.length !== 2 + initLength + hpkeLength) throw new MlsError("bad_message", "corrupt stored key package");
  return {
    initPrivateKey: bytes.slice(1, 1 + initLength),
    hpkePrivateKey: bytes.slice(2 + initLength),
    signaturePrivateKey: identity.signaturePrivateKey,
  };
}
