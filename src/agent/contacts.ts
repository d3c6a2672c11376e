import { didKeyOf, keyOfDidKey, normaliseSafetyCode, safetyCodeOf } from "../mls/didKey.js";
import { assertAgentName, bytesEqual } from "../mls/identity.js";
import type { StoredContact } from "../store/agentStore.js";
import type { Core } from "./core.js";
import { AgentError, type AgentView, type ContactView, type Trust } from "./types.js";

/** Where a pinned key came from. */
export type ContactSource = "explicit" | "invite" | "channel" | "key_package";

/**
 * This agent's contacts: names pinned to identity keys. An agent is its key and a name is only
 * what an agent calls itself, so whoever a name stands for is decided here, never by whoever
 * answers first: adding by name needs a pinned key, a known name with another key is refused or
 * reported, and every agent shown to the model carries its trust (types.ts, Trust).
 */
export class Contacts {
  constructor(private readonly core: Pick<Core, "store" | "warnings" | "log" | "relay">) {}

  list(): ContactView[] {
    return this.core.store.contacts().map(view);
  }

  /**
   * The key an agent is added by: `who` is a did:key, or the name of a contact. unknown_contact
   * for a name with no key pinned.
   */
  resolve(who: string): { key: Uint8Array; name: string | undefined } {
    if (who.startsWith("did:")) return { key: keyOfDidKey(who), name: undefined };
    assertAgentName(who);
    const pinned = this.core.store.contact(who);
    if (pinned === undefined) {
      throw new AgentError(
        "unknown_contact",
        `no key is pinned for '${who}': ask them for their did:key or safety code (whoami) and add them with contact_add, or add them by did:key`,
      );
    }
    return { key: pinned.key, name: who };
  }

  /**
   * A person vouches for `name`'s key: given as a did:key, or as a safety code that must match
   * the key the relay knows under that name. Replaces what was pinned before.
   */
  async add(name: string, proof: { did: string } | { safetyCode: string }): Promise<ContactView> {
    assertAgentName(name);
    let key: Uint8Array;
    if ("did" in proof) key = keyOfDidKey(proof.did);
    else {
      const code = normaliseSafetyCode(proof.safetyCode);
      if (code === undefined) throw new AgentError("bad_request", "a safety code is 20 digits (four groups of five)");
      const known = await this.core.relay.lookupName(name);
      if (known === undefined) throw new AgentError("not_found", `the relay knows no agent named '${name}': ask for their did:key instead`);
      if (safetyCodeOf(known) !== code) {
        throw new AgentError("identity_mismatch", `the key the relay has for '${name}' has the safety code ${safetyCodeOf(known)}, not ${code}: it is not the agent you checked; ask for their did:key`);
      }
      key = known;
    }
    const contact = { name, key, verified: true, source: "explicit", addedAt: Date.now() };
    this.core.store.saveContact(contact);
    return view(contact);
  }

  remove(name: string): { name: string; removed: boolean } {
    return { name, removed: this.core.store.removeContact(name) };
  }

  /**
   * Learns that `name` holds `key` (from an invite, a channel joined, a key package given): pins it
   * if the name is new. Returns false, and warns on `channel`, when the name is pinned to another key.
   */
  learn(name: string, key: Uint8Array, source: ContactSource, channel: string): boolean {
    const pinned = this.core.store.contact(name);
    if (pinned === undefined) {
      this.core.store.saveContact({ name, key, verified: source === "explicit", source, addedAt: Date.now() });
      return true;
    }
    if (bytesEqual(pinned.key, key)) return true;
    this.conflict(name, key, channel);
    return false;
  }

  /** Throws identity_mismatch unless `key` is the one pinned for `name` (or nothing is pinned for it). */
  assertNotConflicting(name: string, key: Uint8Array, what: string): void {
    const pinned = this.core.store.contact(name);
    if (pinned !== undefined && !bytesEqual(pinned.key, key)) {
      throw new AgentError(
        "identity_mismatch",
        `${what} is '${name}' with the key ${didKeyOf(key)}, but '${name}' is pinned to ${didKeyOf(pinned.key)}: it is someone else using the name (check with them, then contact_remove and contact_add if their key really changed)`,
      );
    }
  }

  trustOf(name: string, key: Uint8Array): Trust {
    const pinned = this.core.store.contact(name);
    if (pinned === undefined) return "unknown";
    if (!bytesEqual(pinned.key, key)) return "conflict";
    return pinned.verified ? "verified" : "pinned";
  }

  /** An agent as tools show it. */
  view(name: string, key: Uint8Array): AgentView {
    return { name, did: didKeyOf(key), safetyCode: safetyCodeOf(key), trust: this.trustOf(name, key) };
  }

  /** Trust of a sender known only by its did:key (what the inbox keeps); unknown for rows stored before keys were shown. */
  trustOfDid(name: string, did: string): Trust {
    if (!did.startsWith("did:key:")) return "unknown";
    try {
      return this.trustOf(name, keyOfDidKey(did));
    } catch {
      return "unknown";
    }
  }

  private conflict(name: string, key: Uint8Array, channel: string): void {
    this.core.warnings.warn(
      channel,
      "identity_conflict",
      `an agent calling itself '${name}' has the key ${didKeyOf(key)}, but '${name}' is pinned to another key: treat it as someone else; if their key really changed, check it with them and use contact_add`,
    );
  }
}

function view(contact: StoredContact): ContactView {
  return { name: contact.name, did: didKeyOf(contact.key), safetyCode: safetyCodeOf(contact.key), verified: contact.verified, source: contact.source };
}
