import { describe, expect, it } from "vitest";
import { ChannelWarnings } from "../../src/agent/channelWarnings.js";
import { Contacts } from "../../src/agent/contacts.js";
import type { Core } from "../../src/agent/core.js";
import { didKeyOf, safetyCodeOf } from "../../src/mls/didKey.js";
import { AgentStore } from "../../src/store/agentStore.js";
import { tempDir } from "../helpers.js";
import { testKeyOf } from "../identity.js";

/** Contacts on a real store; `relayKnows` is what the relay answers a name lookup with. */
function contactsWith(relayKnows: Record<string, Uint8Array> = {}) {
  const store = AgentStore.open(tempDir());
  const warnings = new ChannelWarnings(() => undefined);
  const relay = { lookupName: async (name: string) => relayKnows[name] } as unknown as Core["relay"];
  return { store, warnings, contacts: new Contacts({ store, warnings, log: () => undefined, relay }) };
}

describe("Contacts", () => {
  it("resolves a did:key or a pinned name, and refuses a name with no key pinned", () => {
    const { contacts, store } = contactsWith();
    expect(contacts.resolve(didKeyOf(testKeyOf("bob")))).toEqual({ key: testKeyOf("bob"), name: undefined });
    expect(() => contacts.resolve("bob")).toThrow(expect.objectContaining({ code: "unknown_contact" }));
    contacts.learn("bob", testKeyOf("bob"), "invite", "a/b/c");
    expect(contacts.resolve("bob")).toEqual({ key: testKeyOf("bob"), name: "bob" });
    store.close();
  });

  it("learns a new name once; the same name with another key is a conflict, warned and never pinned over", () => {
    const { contacts, warnings, store } = contactsWith();
    expect(contacts.learn("bob", testKeyOf("bob"), "channel", "a/b/c")).toBe(true);
    expect(contacts.trustOf("bob", testKeyOf("bob"))).toBe("pinned");
    expect(contacts.learn("bob", testKeyOf("mallory"), "channel", "a/b/c")).toBe(false);
    expect(contacts.trustOf("bob", testKeyOf("mallory"))).toBe("conflict");
    expect(contacts.trustOf("carol", testKeyOf("carol"))).toBe("unknown");
    expect(warnings.take("a/b/c").map((w) => w.code)).toEqual(["identity_conflict"]);
    expect(() => contacts.assertNotConflicting("bob", testKeyOf("mallory"), "this key package")).toThrow(expect.objectContaining({ code: "identity_mismatch" }));
    expect(contacts.resolve("bob").key).toEqual(testKeyOf("bob"));
    store.close();
  });

  it("a person vouches with a did:key, or with a safety code the relay's key must match", async () => {
    const { contacts, store } = contactsWith({ bob: testKeyOf("bob"), carol: testKeyOf("mallory") });
    expect(await contacts.add("bob", { safetyCode: safetyCodeOf(testKeyOf("bob")).replace(/ /g, "") })).toMatchObject({ name: "bob", verified: true, did: didKeyOf(testKeyOf("bob")) });
    expect(contacts.trustOf("bob", testKeyOf("bob"))).toBe("verified");
    // The relay answers carol's name with mallory's key: the code a person read from carol does not match.
    await expect(contacts.add("carol", { safetyCode: safetyCodeOf(testKeyOf("carol")) })).rejects.toMatchObject({ code: "identity_mismatch" });
    await expect(contacts.add("dave", { safetyCode: safetyCodeOf(testKeyOf("dave")) })).rejects.toMatchObject({ code: "not_found" });
    expect(await contacts.add("carol", { did: didKeyOf(testKeyOf("carol")) })).toMatchObject({ verified: true, source: "explicit" });
    expect(contacts.list().map((c) => c.name)).toEqual(["bob", "carol"]);
    expect(contacts.remove("carol")).toEqual({ name: "carol", removed: true });
    expect(contacts.trustOf("carol", testKeyOf("carol"))).toBe("unknown");
    store.close();
  });
});
