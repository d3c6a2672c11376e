import type { Credential } from "ts-mls";
import { linkAuthBytes } from "../wire/linkAuth.js";
import { ed25519Signature } from "./crypto/signature.js";
import { didKeyOf, safetyCodeOf } from "./didKey.js";
import { MlsError } from "./errors.js";

/** An agent's long-term signing identity: its name and Ed25519 key pair. */
export interface Identity {
  readonly name: string;
  readonly signaturePublicKey: Uint8Array;
  readonly signaturePrivateKey: Uint8Array;
}

/** What a verified credential tells about a member: its key (which is the member) and the name it calls itself. */
export interface MemberIdentity {
  readonly name: string;
  readonly signaturePublicKey: Uint8Array;
  /** The key as a did:key. */
  readonly did: string;
  /** The key as a code people read aloud to compare. */
  readonly safetyCode: string;
}

/** Agent names: 1-64 letters, digits, '.', '_', '@', '-', starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const CREDENTIAL_VERSION = 1;
const ED25519_PUBLIC_KEY_BYTES = 32;

/** Throws bad_request unless `name` is a valid agent name (1–64 of letters, digits, . _ @ -). */
export function assertAgentName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new MlsError(
      "bad_request",
      "agent names are 1-64 characters: letters, digits, '.', '_', '@', '-', starting with a letter or digit",
    );
  }
}

/**
 * The basic credential carries the name *and* the signature key, so the credential is
 * self-certifying: the authentication service can check it against the leaf's key without a
 * directory. Layout: version (1), name length (1), UTF-8 name, 32-byte Ed25519 public key.
 */
export function credentialFor(name: string, signaturePublicKey: Uint8Array): Credential {
  assertAgentName(name);
  const nameBytes = new TextEncoder().encode(name);
  const identity = new Uint8Array(2 + nameBytes.length + signaturePublicKey.length);
  identity[0] = CREDENTIAL_VERSION;
  identity[1] = nameBytes.length;
  identity.set(nameBytes, 2);
  identity.set(signaturePublicKey, 2 + nameBytes.length);
  return { credentialType: "basic", identity };
}

/** Parses a credential made by credentialFor; undefined for anything else. */
export function parseCredential(credential: Credential): { name: string; signaturePublicKey: Uint8Array } | undefined {
  if (credential.credentialType !== "basic") return undefined;
  const id = credential.identity;
  if (id.length < 2 || id[0] !== CREDENTIAL_VERSION) return undefined;
  const nameLength = id[1] as number;
  if (id.length !== 2 + nameLength + ED25519_PUBLIC_KEY_BYTES) return undefined;
  let name: string;
  try {
    name = new TextDecoder("utf-8", { fatal: true }).decode(id.subarray(2, 2 + nameLength));
  } catch {
    return undefined;
  }
  if (!NAME_PATTERN.test(name)) return undefined;
  return { name, signaturePublicKey: id.slice(2 + nameLength) };
}

/**
 * What a relay link needs to speak for `identity`: its key, and a signature of a link's binding
 * and its name (wire/linkAuth.ts). Nothing else is ever signed with the identity key this way.
 */
export function linkProverOf(identity: Identity): { key: Uint8Array; prove(binding: Uint8Array): Promise<Uint8Array> } {
  return { key: identity.signaturePublicKey, prove: (binding) => ed25519Signature.sign(identity.signaturePrivateKey, linkAuthBytes(binding, identity.name)) };
}

/** Verified identity of a credential whose embedded key equals the leaf's signature key. */
export function memberIdentity(credential: Credential, signaturePublicKey: Uint8Array): MemberIdentity | undefined {
  const parsed = parseCredential(credential);
  if (parsed === undefined || !bytesEqual(parsed.signaturePublicKey, signaturePublicKey)) return undefined;
  return { name: parsed.name, signaturePublicKey, did: didKeyOf(signaturePublicKey), safetyCode: safetyCodeOf(signaturePublicKey) };
}

/** Byte equality for public values (not constant-time: nothing secret is compared here). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
