import { ByteReader, ByteWriter } from "./binary.js";
import { BUCKETS, ENVELOPE_HEADER_BYTES, WIRE_OVERHEAD } from "./buckets.js";
import { COMMIT_KEY_BYTES, COMMIT_SIGNATURE_BYTES, type CommitProof } from "./commitProof.js";
import { CHANNEL_NONCE_BYTES } from "./channelOpen.js";
import { ED25519_KEY_BYTES, ED25519_SIGNATURE_BYTES } from "./ed25519.js";
import { WireError } from "./errors.js";

/**
 * The envelope: what the relay reads once the link layer is opened.
 *
 *   version (1) | type (1) | id (8) | body
 *
 * `id` is the relay's per-channel (or per-inbox) sequence number on frames it delivers from its
 * archive, and the client's request id on requests and on the replies that answer them. MLS
 * bodies (Msg, GroupProposal) are the rest of the envelope with no length prefix, so that the MLS
 * layer's bucket padding lands exactly (see buckets.ts).
 */
export const ENVELOPE_VERSION = 1;

/**
 * What a GroupCommit envelope without a Welcome adds to its commit, proof included: the commit's
 * length (4), the recipient count (1), the proof flag (1), signature and next key. MLS pads commits
 * so that this form fills frames exactly; the relay's delivery (no proof) is smaller and lands in
 * the same bucket.
 */
export const COMMIT_ENVELOPE_EXTRA_BYTES = 4 + 1 + 1 + COMMIT_SIGNATURE_BYTES + COMMIT_KEY_BYTES;

/** Envelopes above this (after reassembly) are refused: 1 MiB. */
export const MAX_ENVELOPE_BYTES = 1 << 20;

/** One (request id, seq) pair of an Acks envelope. */
export interface AckEntry {
  readonly id: bigint;
  readonly seq: bigint;
}

/**
 * Most pairs in one Acks envelope: as many as fit the smallest bucket (14), so that an Acks frame
 * is the same size as a single Ack's and coalescing adds no frame size of its own.
 */
export const MAX_ACKS = Math.floor((BUCKETS[0] - WIRE_OVERHEAD - 1) / 16);

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const MAX_CHANNEL_ID_BYTES = 64;
const MAX_RECIPIENTS = 255;

/** Where a relay-through frame goes: a channel's archive, or the inbox of the agent holding `key`. */
export type Target = { kind: "channel"; channel: Uint8Array } | { kind: "agent"; key: Uint8Array };

/** Frames the relay forwards without reading: it only routes them to a channel or an agent inbox. */
export const RELAY_THROUGH_TYPES = [
  "JoinRequest",
  "JoinReply",
  "LeaveRequest",
  "LeaveReply",
  "DiscoveryRequest",
  "DiscoveryReply",
  "GroupClose",
] as const;
export type RelayThroughType = (typeof RELAY_THROUGH_TYPES)[number];

export type Envelope =
  /** `key`: the agent's identity key; `signature`: by it, over the link's binding and `agent` (linkAuth.ts). */
  | { type: "Auth"; id: bigint; agent: string; key: Uint8Array; signature: Uint8Array; token: string }
  | { type: "AuthOk"; id: bigint; agent: string; key: Uint8Array }
  | { type: "Error"; id: bigint; code: string; message: string }
  | { type: "Ack"; id: bigint; seq: bigint }
  /** Several Acks in one frame (the relay's reply to a batch): `id` is 0, `acks` 1-MAX_ACKS distinct non-zero request ids. */
  | { type: "Acks"; id: bigint; acks: readonly AckEntry[] }
  | { type: "Ping"; id: bigint }
  | { type: "Pong"; id: bigint }
  | { type: "Msg"; id: bigint; body: Uint8Array }
  | { type: "GroupProposal"; id: bigint; body: Uint8Array }
  /** `proof`: for the relay (see commitProof.ts); commits the relay delivers carry none. */
  /** Welcome `recipients`: the identity keys of the agents the commit adds. */
  | { type: "GroupCommit"; id: bigint; commit: Uint8Array; welcome: { recipients: Uint8Array[]; welcome: Uint8Array } | undefined; proof?: CommitProof | undefined }
  | { type: "GroupAck"; id: bigint; channel: Uint8Array; epoch: bigint; seq: bigint }
  | { type: "GroupNack"; id: bigint; channel: Uint8Array; epoch: bigint; winningSeq: bigint }
  /** `commitSeq`: the channel seq of the commit that added the recipient: it reads from the next one. */
  | { type: "GroupWelcome"; id: bigint; channel: Uint8Array; commitSeq: bigint; welcome: Uint8Array }
  /** The creator opens a channel (channelOpen.ts): nothing is accepted on it before. */
  | { type: "ChannelOpen"; id: bigint; channel: Uint8Array; nonce: Uint8Array; commitKey: Uint8Array; signature: Uint8Array }
  | { type: "Subscribe"; id: bigint; channel: Uint8Array; fromSeq: bigint }
  | { type: "Unsubscribe"; id: bigint; channel: Uint8Array }
  | { type: "InboxSubscribe"; id: bigint; fromSeq: bigint }
  | { type: "InboxAck"; id: bigint; upToSeq: bigint }
  | { type: "KeyPackagePublish"; id: bigint; lastResort: boolean; keyPackage: Uint8Array }
  | { type: "KeyPackageFetch"; id: bigint; key: Uint8Array }
  | { type: "KeyPackageReply"; id: bigint; key: Uint8Array; keyPackage: Uint8Array | undefined }
  /** Which key the relay knows under a name (the first to claim it, or the one its token names). */
  | { type: "NameLookup"; id: bigint; agent: string }
  | { type: "NameReply"; id: bigint; agent: string; key: Uint8Array | undefined }
  /** `from`: the sender's identity key, set by the relay (empty in the request). */
  | { type: RelayThroughType; id: bigint; target: Target; from: Uint8Array; payload: Uint8Array }
  | { type: "Fragment"; id: bigint; message: number; part: number; count: number; chunk: Uint8Array };

export type EnvelopeType = Envelope["type"];
export type EnvelopeOf<T extends EnvelopeType> = Extract<Envelope, { type: T }>;

const TYPE_CODES: Record<EnvelopeType, number> = {
  Auth: 0x01,
  AuthOk: 0x02,
  Error: 0x03,
  Ack: 0x04,
  Ping: 0x05,
  Pong: 0x06,
  Acks: 0x07,
  Msg: 0x10,
  GroupProposal: 0x11,
  GroupCommit: 0x12,
  GroupAck: 0x13,
  GroupNack: 0x14,
  GroupWelcome: 0x15,
  Subscribe: 0x20,
  Unsubscribe: 0x21,
  InboxSubscribe: 0x22,
  InboxAck: 0x23,
  ChannelOpen: 0x24,
  KeyPackagePublish: 0x30,
  KeyPackageFetch: 0x31,
  KeyPackageReply: 0x32,
  NameLookup: 0x33,
  NameReply: 0x34,
  JoinRequest: 0x40,
  JoinReply: 0x41,
  LeaveRequest: 0x42,
  LeaveReply: 0x43,
  DiscoveryRequest: 0x44,
  DiscoveryReply: 0x45,
  GroupClose: 0x46,
  Fragment: 0x7f,
};
const TYPES_BY_CODE = new Map(Object.entries(TYPE_CODES).map(([name, code]) => [code, name as EnvelopeType]));

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function text(bytes: Uint8Array, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WireError("bad_field", `${what} is not valid UTF-8`);
  }
}

function agentId(bytes: Uint8Array): string {
  const id = text(bytes, "agent id");
  if (!AGENT_ID.test(id)) throw new WireError("bad_field", "agent id is not 1-64 of [A-Za-z0-9._@-]");
  return id;
}

/** A relay-through frame's sender: an identity key, or nothing in a request (the relay fills it in). */
function sender(bytes: Uint8Array): Uint8Array {
  return bytes.length === 0 ? bytes : identityKey(bytes);
}

/** A presence flag: 0 or 1. */
function present(r: ByteReader): boolean {
  const flag = r.u8();
  if (flag > 1) throw new WireError("bad_field", "presence flag must be 0 or 1");
  return flag === 1;
}

function identityKey(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== ED25519_KEY_BYTES) throw new WireError("bad_field", "an identity key is 32 bytes");
  return bytes;
}

function channelId(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes.length > MAX_CHANNEL_ID_BYTES) throw new WireError("bad_field", "channel id must be 1-64 bytes");
  return bytes;
}

function readProof(r: ByteReader): CommitProof | undefined {
  const present = r.u8();
  if (present === 0) return undefined;
  if (present !== 1) throw new WireError("bad_field", "commit proof flag must be 0 or 1");
  return { signature: r.raw(COMMIT_SIGNATURE_BYTES), nextKey: r.raw(COMMIT_KEY_BYTES) };
}

/** The checks an Acks list must pass, on both sides: the relay never sends what a client would refuse. */
function checkAcks(id: bigint, acks: readonly AckEntry[]): readonly AckEntry[] {
  if (id !== 0n) throw new WireError("bad_field", "an Acks envelope has id 0");
  if (acks.length === 0 || acks.length > MAX_ACKS) throw new WireError("bad_field", `an Acks envelope lists 1-${MAX_ACKS} requests`);
  const ids = new Set<bigint>();
  for (const a of acks) {
    if (a.id === 0n) throw new WireError("bad_field", "an acknowledged request id is non-zero");
    ids.add(a.id);
  }
  if (ids.size !== acks.length) throw new WireError("bad_field", "an Acks envelope lists a request twice");
  return acks;
}

function readAcks(r: ByteReader): AckEntry[] {
  const count = r.u8();
  const acks: AckEntry[] = [];
  for (let i = 0; i < count; i++) acks.push({ id: r.u64(), seq: r.u64() });
  return acks;
}

function writeTarget(w: ByteWriter, t: Target): void {
  if (t.kind === "channel") w.u8(1).vec8(t.channel);
  else w.u8(2).vec8(identityKey(t.key));
}

function readTarget(r: ByteReader): Target {
  const kind = r.u8();
  if (kind === 1) return { kind: "channel", channel: channelId(r.vec8()) };
  if (kind === 2) return { kind: "agent", key: identityKey(r.vec8()) };
  throw new WireError("bad_field", "unknown target kind");
}

function writeBody(w: ByteWriter, e: Envelope): void {
  switch (e.type) {
    case "Auth":
      if (e.signature.length !== ED25519_SIGNATURE_BYTES) throw new WireError("bad_field", "an Auth signature is 64 bytes");
      w.vec8(utf8.encode(e.agent)).vec8(identityKey(e.key)).raw(e.signature).vec16(utf8.encode(e.token));
      return;
    case "AuthOk":
      w.vec8(utf8.encode(e.agent)).vec8(identityKey(e.key));
      return;
    case "Error":
      w.vec8(utf8.encode(e.code)).vec16(utf8.encode(e.message));
      return;
    case "Ack":
      w.u64(e.seq);
      return;
    case "Acks":
      w.u8(checkAcks(e.id, e.acks).length);
      for (const a of e.acks) w.u64(a.id).u64(a.seq);
      return;
    case "Ping":
    case "Pong":
      return;
    case "Msg":
    case "GroupProposal":
      w.raw(e.body);
      return;
    case "GroupCommit":
      w.vec32(e.commit);
      if (e.welcome === undefined) {
        w.u8(0);
      } else {
        if (e.welcome.recipients.length === 0 || e.welcome.recipients.length > MAX_RECIPIENTS) {
          throw new WireError("bad_field", "a Welcome needs 1-255 recipients");
        }
        w.u8(e.welcome.recipients.length);
        for (const r of e.welcome.recipients) w.vec8(identityKey(r));
        w.vec32(e.welcome.welcome);
      }
      if (e.proof === undefined) {
        w.u8(0);
        return;
      }
      if (e.proof.signature.length !== COMMIT_SIGNATURE_BYTES || e.proof.nextKey.length !== COMMIT_KEY_BYTES) {
        throw new WireError("bad_field", "a commit proof is a 64-byte signature and a 32-byte key");
      }
      w.u8(1).raw(e.proof.signature).raw(e.proof.nextKey);
      return;
    case "GroupAck":
      w.vec8(e.channel).u64(e.epoch).u64(e.seq);
      return;
    case "GroupNack":
      w.vec8(e.channel).u64(e.epoch).u64(e.winningSeq);
      return;
    case "GroupWelcome":
      w.vec8(e.channel).u64(e.commitSeq).vec32(e.welcome);
      return;
    case "ChannelOpen":
      if (e.nonce.length !== CHANNEL_NONCE_BYTES || e.signature.length !== ED25519_SIGNATURE_BYTES) throw new WireError("bad_field", "a ChannelOpen has a 16-byte nonce and a 64-byte signature");
      w.vec8(e.channel).raw(e.nonce).vec8(identityKey(e.commitKey)).raw(e.signature);
      return;
    case "Subscribe":
      w.vec8(e.channel).u64(e.fromSeq);
      return;
    case "Unsubscribe":
      w.vec8(e.channel);
      return;
    case "InboxSubscribe":
      w.u64(e.fromSeq);
      return;
    case "InboxAck":
      w.u64(e.upToSeq);
      return;
    case "KeyPackagePublish":
      w.u8(e.lastResort ? 1 : 0).vec32(e.keyPackage);
      return;
    case "KeyPackageFetch":
      w.vec8(identityKey(e.key));
      return;
    case "KeyPackageReply":
      w.vec8(identityKey(e.key));
      if (e.keyPackage === undefined) w.u8(0);
      else w.u8(1).vec32(e.keyPackage);
      return;
    case "NameLookup":
      w.vec8(utf8.encode(e.agent));
      return;
    case "NameReply":
      w.vec8(utf8.encode(e.agent));
      if (e.key === undefined) w.u8(0);
      else w.u8(1).vec8(identityKey(e.key));
      return;
    case "Fragment":
      w.u32(e.message).u16(e.part).u16(e.count).raw(e.chunk);
      return;
    default:
      writeTarget(w, e.target);
      if (e.from.length !== 0) identityKey(e.from);
      w.vec8(e.from).raw(e.payload);
  }
}

function readBody(type: EnvelopeType, id: bigint, r: ByteReader): Envelope {
  switch (type) {
    case "Auth":
      return { type, id, agent: agentId(r.vec8()), key: identityKey(r.vec8()), signature: r.raw(ED25519_SIGNATURE_BYTES), token: text(r.vec16(), "token") };
    case "AuthOk":
      return { type, id, agent: agentId(r.vec8()), key: identityKey(r.vec8()) };
    case "Error":
      return { type, id, code: text(r.vec8(), "error code"), message: text(r.vec16(), "error message") };
    case "Ack":
      return { type, id, seq: r.u64() };
    case "Acks":
      return { type, id, acks: checkAcks(id, readAcks(r)) };
    case "Ping":
    case "Pong":
      return { type, id };
    case "Msg":
    case "GroupProposal":
      return { type, id, body: r.rest() };
    case "GroupCommit": {
      const commit = r.vec32();
      const count = r.u8();
      const recipients = Array.from({ length: count }, () => identityKey(r.vec8()));
      const welcome = count === 0 ? undefined : { recipients, welcome: r.vec32() };
      return { type, id, commit, welcome, proof: readProof(r) };
    }
    case "GroupAck":
      return { type, id, channel: channelId(r.vec8()), epoch: r.u64(), seq: r.u64() };
    case "GroupNack":
      return { type, id, channel: channelId(r.vec8()), epoch: r.u64(), winningSeq: r.u64() };
    case "GroupWelcome":
      return { type, id, channel: channelId(r.vec8()), commitSeq: r.u64(), welcome: r.vec32() };
    case "ChannelOpen":
      return { type, id, channel: channelId(r.vec8()), nonce: r.raw(CHANNEL_NONCE_BYTES), commitKey: identityKey(r.vec8()), signature: r.raw(ED25519_SIGNATURE_BYTES) };
    case "Subscribe":
      return { type, id, channel: channelId(r.vec8()), fromSeq: r.u64() };
    case "Unsubscribe":
      return { type, id, channel: channelId(r.vec8()) };
    case "InboxSubscribe":
      return { type, id, fromSeq: r.u64() };
    case "InboxAck":
      return { type, id, upToSeq: r.u64() };
    case "KeyPackagePublish": {
      const flag = r.u8();
      if (flag > 1) throw new WireError("bad_field", "lastResort flag must be 0 or 1");
      return { type, id, lastResort: flag === 1, keyPackage: r.vec32() };
    }
    case "KeyPackageFetch":
      return { type, id, key: identityKey(r.vec8()) };
    case "KeyPackageReply": {
      const key = identityKey(r.vec8());
      return { type, id, key, keyPackage: present(r) ? r.vec32() : undefined };
    }
    case "NameLookup":
      return { type, id, agent: agentId(r.vec8()) };
    case "NameReply": {
      const agent = agentId(r.vec8());
      return { type, id, agent, key: present(r) ? identityKey(r.vec8()) : undefined };
    }
    case "Fragment": {
      const message = r.u32();
      const part = r.u16();
      const count = r.u16();
      if (count < 2 || part >= count) throw new WireError("bad_field", "fragment part out of range");
      return { type, id, message, part, count, chunk: r.rest() };
    }
    default:
      return { type, id, target: readTarget(r), from: sender(r.vec8()), payload: r.rest() };
  }
}

/** The exact body size of the MLS-carrying types (the hot path), a small guess for the rest. */
function bodySizeHint(e: Envelope): number {
  if (e.type === "Msg" || e.type === "GroupProposal") return e.body.length;
  return e.type === "Acks" ? 1 + 16 * e.acks.length : 64;
}

/** Encodes an envelope; throws WireError for values out of range. */
export function encodeEnvelope(e: Envelope): Uint8Array {
  const w = new ByteWriter(ENVELOPE_HEADER_BYTES + bodySizeHint(e)).u8(ENVELOPE_VERSION).u8(TYPE_CODES[e.type]).u64(e.id);
  writeBody(w, e);
  const bytes = w.bytes();
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new WireError("too_large", "envelope over 1 MiB");
  return bytes;
}

/** Decodes one whole envelope, strictly: any malformation is a WireError, never another exception. */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new WireError("too_large", "envelope over 1 MiB");
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw new WireError("truncated", "envelope shorter than its header");
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== ENVELOPE_VERSION) throw new WireError("bad_version", `envelope version ${version} is not supported`);
  const code = r.u8();
  const type = TYPES_BY_CODE.get(code);
  if (type === undefined) throw new WireError("bad_type", `unknown envelope type 0x${code.toString(16)}`);
  const envelope = readBody(type, r.u64(), r);
  r.end();
  return envelope;
}

/**
 * Writes `id` into an encoded envelope's id field, in place, and returns the same bytes: the relay
 * turns a request it received into the delivery it fans out without encoding the body again.
 */
export function setEnvelopeId(bytes: Uint8Array, id: bigint): Uint8Array {
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw new WireError("truncated", "envelope shorter than its header");
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(2, id);
  return bytes;
}

/** The type of an encoded envelope, read from its header only (undefined for an unknown code). */
export function envelopeTypeOf(bytes: Uint8Array): EnvelopeType | undefined {
  return bytes.length < ENVELOPE_HEADER_BYTES ? undefined : TYPES_BY_CODE.get(bytes[1]!);
}

/** True for the types the relay forwards opaque. */
export function isRelayThrough(e: Envelope): e is EnvelopeOf<RelayThroughType> {
  return (RELAY_THROUGH_TYPES as readonly string[]).includes(e.type);
}
