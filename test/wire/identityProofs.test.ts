import { describe, expect, it } from "vitest";
import { channelIdFor, channelOpenBytes, channelOpenValid } from "../../src/wire/channelOpen.js";
import { linkAuthBytes, linkAuthValid } from "../../src/wire/linkAuth.js";
import { testIdentity } from "../identity.js";

describe("proofs of an identity key", () => {
  const alice = testIdentity("alice");
  const mallory = testIdentity("mallory");

  it("a link's authentication holds only for its binding, its name and its key", () => {
    const binding = new Uint8Array(32).fill(1);
    const signature = alice.sign(linkAuthBytes(binding, "alice"));
    expect(linkAuthValid(binding, "alice", alice.key, signature)).toBe(true);
    expect(linkAuthValid(new Uint8Array(32).fill(2), "alice", alice.key, signature)).toBe(false);
    expect(linkAuthValid(binding, "bob", alice.key, signature)).toBe(false);
    expect(linkAuthValid(binding, "alice", mallory.key, signature)).toBe(false);
    expect(linkAuthValid(binding, "alice", new Uint8Array(32), signature)).toBe(false);
  });

  it("a channel opening holds only for the creator its id is made from, and names epoch 0's commit key", () => {
    const nonce = new Uint8Array(16).fill(3);
    const channel = channelIdFor(alice.key, nonce);
    const commitKey = new Uint8Array(32).fill(4);
    const signature = alice.sign(channelOpenBytes(channel, nonce, commitKey));
    expect(channelOpenValid(channel, nonce, commitKey, alice.key, signature)).toBe(true);
    // mallory's own signature over alice's channel: the id is not made from her key.
    expect(channelOpenValid(channel, nonce, commitKey, mallory.key, mallory.sign(channelOpenBytes(channel, nonce, commitKey)))).toBe(false);
    // Another commit key than alice signed, or another nonce for the same id.
    expect(channelOpenValid(channel, nonce, new Uint8Array(32).fill(5), alice.key, signature)).toBe(false);
    expect(channelOpenValid(channel, new Uint8Array(16).fill(6), commitKey, alice.key, signature)).toBe(false);
    expect(channelOpenValid(channel, nonce.subarray(1), commitKey, alice.key, signature)).toBe(false);
  });
});
