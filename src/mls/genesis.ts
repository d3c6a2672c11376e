import { randomBytes } from "node:crypto";
import type { CiphersuiteImpl, ClientState, Extension } from "ts-mls";
import { ByteReader, ByteWriter } from "../wire/binary.js";
import { CHANNEL_NONCE_BYTES, channelIdFor } from "../wire/channelOpen.js";
import { MlsError } from "./errors.js";
import { bytesEqual, NAME_PATTERN, type Identity } from "./identity.js";
import { GENESIS_EXTENSION } from "./keyPackages.js";

/**
 * A channel's genesis: who made it. The group id is channelIdFor(creator key, nonce) and the
 * creator signs the id, the nonce, the channel name and its own name; all of it travels to members
 * in a private GroupContext extension. A joiner checks it before it trusts the group, so a
 * channel's creator cannot be claimed by anyone else, and a channel's id names its creator.
 */
const KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const CONTEXT = new TextEncoder().encode("skytale channel genesis v1");

export interface Creator {
  readonly key: Uint8Array;
  readonly name: string;
}

export interface Genesis {
  readonly groupId: Uint8Array;
  readonly nonce: Uint8Array;
  readonly extension: Extension;
}

function signedBytes(groupId: Uint8Array, nonce: Uint8Array, channel: string, creatorName: string): Uint8Array {
  const utf8 = new TextEncoder();
  return new ByteWriter(160).raw(CONTEXT).vec8(groupId).vec8(nonce).vec8(utf8.encode(channel)).vec8(utf8.encode(creatorName)).bytes();
}

/** A new channel's id and genesis extension, signed by `identity`. */
export async function makeGenesis(identity: Identity, channel: string, cs: CiphersuiteImpl): Promise<Genesis> {
  const nonce = new Uint8Array(randomBytes(CHANNEL_NONCE_BYTES));
  const groupId = channelIdFor(identity.signaturePublicKey, nonce);
  const signature = await cs.signature.sign(identity.signaturePrivateKey, signedBytes(groupId, nonce, channel, identity.name));
  const extensionData = new ByteWriter(KEY_BYTES + CHANNEL_NONCE_BYTES + SIGNATURE_BYTES + 66)
    .raw(identity.signaturePublicKey)
    .raw(nonce)
    .vec8(new TextEncoder().encode(identity.name))
    .raw(signature)
    .bytes();
  return { groupId, nonce, extension: { extensionType: GENESIS_EXTENSION, extensionData } };
}

interface ParsedGenesis extends Creator {
  readonly nonce: Uint8Array;
  readonly signature: Uint8Array;
}

/** The genesis a group carries, read but not verified (a group this agent holds had it verified on joining); undefined when it has none. */
function parseGenesis(state: ClientState): ParsedGenesis | undefined {
  const extension = state.groupContext.extensions.find((e) => e.extensionType === GENESIS_EXTENSION);
  if (extension === undefined) return undefined;
  try {
    const r = new ByteReader(extension.extensionData);
    const parsed = { key: r.raw(KEY_BYTES), nonce: r.raw(CHANNEL_NONCE_BYTES), name: new TextDecoder("utf-8", { fatal: true }).decode(r.vec8()), signature: r.raw(SIGNATURE_BYTES) };
    r.end();
    return parsed;
  } catch {
    throw new MlsError("invalid_welcome", "the channel's genesis is malformed");
  }
}

/** The creator a held group names (verified when it was joined). */
export function heldCreator(state: ClientState): Creator | undefined {
  const parsed = parseGenesis(state);
  return parsed && { key: parsed.key, name: parsed.name };
}

/**
 * The verified creator of a group named `channel`, or undefined for a group made before channels
 * had a genesis. A genesis that does not verify is invalid_welcome.
 */
export async function creatorOf(state: ClientState, channel: string, cs: CiphersuiteImpl): Promise<Creator | undefined> {
  const parsed = parseGenesis(state);
  if (parsed === undefined) return undefined;
  const { groupId } = state.groupContext;
  const valid =
    NAME_PATTERN.test(parsed.name) &&
    bytesEqual(channelIdFor(parsed.key, parsed.nonce), groupId) &&
    (await cs.signature.verify(parsed.key, signedBytes(groupId, parsed.nonce, channel, parsed.name), parsed.signature));
  if (!valid) throw new MlsError("invalid_welcome", "the channel's genesis does not verify: its id or name was not made by the creator it names");
  return { key: parsed.key, name: parsed.name };
}
