import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { WireError } from "./errors.js";
import { dh, generateX25519, importX25519Private, type StaticKeyPair } from "./x25519.js";

/**
 * The link handshake, one message each way, both exactly 256 bytes of what looks like noise:
 *
 *   client → relay: e_c (32, top bit random) | random (224)
 *   relay → client: e_r (32, top bit random) | confirm (16) | random (208)
 *
 * Keys come from DH(e_c, S) and DH(e_c, e_r), S being the relay's static key that the client
 * pinned: only the holder of S can produce `confirm`, and the ephemeral e_r gives forward secrecy.
 * X25519 ignores the top bit of a public key (RFC 7748 §5), so we fill it with a random bit; a
 * key's remaining structure (it is a point on the curve) is a known, small distinguisher.
 * The client is authenticated afterwards, inside the encrypted link: it signs the link's binding
 * (a hash of both ephemeral keys and the relay's static key, unique to this link) with its
 * identity key (linkAuth.ts), and shows a bearer token where the relay asks for one.
 */
export const HANDSHAKE_BYTES = 256;

const KEY_BYTES = 32;
const CONFIRM_BYTES = 16;
const SALT = Buffer.from("skytale/link/v1");

/** Keys for one link, from one side's point of view. */
export interface LinkKeys {
  readonly send: Uint8Array;
  readonly receive: Uint8Array;
  /** Public and the same on both sides, unique to this link: what the client's authentication signs. */
  readonly binding: Uint8Array;
}

function withRandomTopBit(publicKey: Uint8Array): Uint8Array {
  const out = publicKey.slice();
  out[KEY_BYTES - 1] = (out[KEY_BYTES - 1]! & 0x7f) | (randomBytes(1)[0]! & 0x80);
  return out;
}

function withoutTopBit(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice(0, KEY_BYTES);
  out[KEY_BYTES - 1]! &= 0x7f;
  return out;
}

function deriveKeys(dh1: Uint8Array, dh2: Uint8Array, ec: Uint8Array, er: Uint8Array, relayStatic: Uint8Array) {
  const ikm = Buffer.concat([dh1, dh2]);
  const okm = new Uint8Array(hkdfSync("sha256", ikm, SALT, Buffer.concat([ec, er, relayStatic]), 3 * KEY_BYTES));
  ikm.fill(0);
  return {
    binding: new Uint8Array(createHash("sha256").update("skytale link binding v1").update(ec).update(er).update(relayStatic).digest()),
    clientToRelay: okm.slice(0, KEY_BYTES),
    relayToClient: okm.slice(KEY_BYTES, 2 * KEY_BYTES),
    confirm: createHmac("sha256", okm.subarray(2 * KEY_BYTES)).update("relay confirms").digest().subarray(0, CONFIRM_BYTES),
  };
}

/** The client's side: `hello` to send, then `finish` with the relay's reply. */
export class ClientHandshake {
  readonly hello: Uint8Array;
  private readonly ephemeral: KeyObject;
  private readonly ephemeralPublic: Uint8Array;

  constructor(private readonly relayStatic: Uint8Array) {
    if (relayStatic.length !== KEY_BYTES) throw new WireError("bad_field", "relay key must be 32 bytes");
    const e = generateX25519();
    this.ephemeral = e.privateKey;
    this.ephemeralPublic = e.publicKey;
    this.hello = new Uint8Array(HANDSHAKE_BYTES);
    this.hello.set(withRandomTopBit(e.publicKey));
    this.hello.set(randomBytes(HANDSHAKE_BYTES - KEY_BYTES), KEY_BYTES);
  }

  /** Verifies the relay's proof of its static key and returns the link keys. */
  finish(reply: Uint8Array): LinkKeys {
    if (reply.length !== HANDSHAKE_BYTES) throw new WireError("handshake_failed", "relay handshake has the wrong size");
    const er = withoutTopBit(reply);
    const keys = deriveKeys(dh(this.ephemeral, this.relayStatic), dh(this.ephemeral, er), this.ephemeralPublic, er, this.relayStatic);
    const confirm = reply.subarray(KEY_BYTES, KEY_BYTES + CONFIRM_BYTES);
    if (!timingSafeEqual(confirm, keys.confirm)) {
      throw new WireError("handshake_failed", "the relay could not prove it holds the pinned relay key");
    }
    return { send: keys.clientToRelay, receive: keys.relayToClient, binding: keys.binding };
  }
}

/** The relay's side: answers a client hello with its static key pair. */
export function respondToHello(hello: Uint8Array, relayKey: StaticKeyPair): { reply: Uint8Array; keys: LinkKeys } {
  if (hello.length !== HANDSHAKE_BYTES) throw new WireError("handshake_failed", "client handshake has the wrong size");
  const ec = withoutTopBit(hello);
  const e = generateX25519();
  const keys = deriveKeys(dh(importX25519Private(relayKey.privateKey), ec), dh(e.privateKey, ec), ec, e.publicKey, relayKey.publicKey);
  const reply = new Uint8Array(HANDSHAKE_BYTES);
  reply.set(withRandomTopBit(e.publicKey));
  reply.set(keys.confirm, KEY_BYTES);
  reply.set(randomBytes(HANDSHAKE_BYTES - KEY_BYTES - CONFIRM_BYTES), KEY_BYTES + CONFIRM_BYTES);
  return { reply, keys: { send: keys.relayToClient, receive: keys.clientToRelay, binding: keys.binding } };
}
