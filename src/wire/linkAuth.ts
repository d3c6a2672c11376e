// Link authentication: the client proves it holds its identity key by signing this link's
// binding (both sides derive it from the handshake) and the name it claims. A signature made for
// one link is worthless on another, and the relay learns the key, which is the agent.
import { ByteWriter } from "./binary.js";
import { ENVELOPE_HEADER_BYTES } from "./buckets.js";
import { ed25519Valid } from "./ed25519.js";

const CONTEXT = new TextEncoder().encode("skytale link auth v1");

/** The longest bearer token an Auth carries; relays refuse longer ones unread. */
export const MAX_AUTH_TOKEN_BYTES = 4096;

/**
 * The largest Auth envelope, encoded: the header, the name (vec8, at most 64 bytes), the identity
 * key (vec8, 32), the signature (64) and the token (vec16). A link sends nothing else before it
 * authenticates, so this is all a relay takes from a link that has not: no fragments.
 */
export const MAX_AUTH_ENVELOPE_BYTES = ENVELOPE_HEADER_BYTES + (1 + 64) + (1 + 32) + 64 + (2 + MAX_AUTH_TOKEN_BYTES);

/** What the client signs with its identity key to authenticate the link. */
export function linkAuthBytes(binding: Uint8Array, agent: string): Uint8Array {
  const name = new TextEncoder().encode(agent);
  return new ByteWriter(CONTEXT.length + binding.length + name.length + 2).raw(CONTEXT).vec8(binding).vec8(name).bytes();
}

/** Whether `signature` authenticates `agent` holding `key` on the link with `binding`. */
export function linkAuthValid(binding: Uint8Array, agent: string, key: Uint8Array, signature: Uint8Array): boolean {
  return ed25519Valid(key, linkAuthBytes(binding, agent), signature);
}
