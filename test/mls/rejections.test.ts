import { createApplicationMessage, createGroup, defaultCapabilities, encodeMlsMessage, generateKeyPackageWithKey } from "ts-mls";
import { decodeGroupState, encodeGroupState } from "ts-mls";
import { describe, expect, it } from "vitest";
import { credentialFor } from "../../src/mls/identity.js";
import { encodeKeyPackageMessage } from "../../src/mls/messages.js";
import { clientConfig, loadCiphersuite } from "../../src/mls/suite.js";
import { groupFrom, groupOf, openAgent, stateOf, text, type ChannelStream, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/sec/rejections";
const DAY_MS = 24 * 3600 * 1000;

const HOUR = 3600;
const liveLifetime = () => {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return { notBefore: now - 60n, notAfter: now + BigInt(HOUR) };
};

/** alice and bob in CHANNEL; with a clock, both agents use it. */
async function pair(clock?: () => number): Promise<[TestAgent, TestAgent, ChannelStream]> {
  if (clock === undefined) {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    return [alice!, bob!, stream];
  }
  const [[alice, bob], stream] = await groupFrom(CHANNEL, [await openAgent("alice", undefined, clock), await openAgent("bob", undefined, clock)]);
  return [alice!, bob!, stream];
}


describe("what the MLS layer refuses", () => {
  it("tampered ciphertext", async () => {
    const [alice, bob] = await pair();
    const m = await alice.mls.encrypt(CHANNEL, text("do not touch"));
    const tampered = m.slice();
    tampered[tampered.length - 5]! ^= 0x01;
    await expect(bob.mls.receive(CHANNEL, tampered)).rejects.toMatchObject({ code: "decryption_failure" });
    expect((await bob.mls.receive(CHANNEL, m))[0]).toMatchObject({ kind: "application" });
  });

  it("replayed ciphertext, even under a new sequence number", async () => {
    const [alice, bob] = await pair();
    const m = await alice.mls.encrypt(CHANNEL, text("once"));
    await bob.mls.receive(CHANNEL, m, 10);
    await expect(bob.mls.receive(CHANNEL, m, 11)).rejects.toMatchObject({ code: "replay" });
  });

  it("a message from a non-member who knows the group id and epoch", async () => {
    const [alice, bob] = await pair();
    const cs = await loadCiphersuite();
    const target = stateOf(alice, CHANNEL);
    const mallory = await openAgent("mallory");
    const kp = await generateKeyPackageWithKey(
      credentialFor("mallory", mallory.mls.identity.signaturePublicKey), defaultCapabilities(), liveLifetime(), [],
      { signKey: mallory.mls.identity.signaturePrivateKey, publicKey: mallory.mls.identity.signaturePublicKey }, cs,
    );
    // Mallory builds her own group under the same id and moves it to the same epoch.
    let own = await createGroup(target.groupContext.groupId, kp.publicPackage, kp.privatePackage, [], cs, clientConfig);
    own = { ...own, groupContext: { ...own.groupContext, epoch: target.groupContext.epoch } };
    const forged = await createApplicationMessage(own, text("trust me"), cs);
    const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: forged.privateMessage });
    await expect(bob.mls.receive(CHANNEL, bytes)).rejects.toMatchObject({ code: "decryption_failure" });
  });

  it("a removed member's message in the epoch she was removed from", async () => {
    const [[alice, bob, carol], stream] = await groupOf(CHANNEL, "alice", "bob", "carol");
    const carolsState = encodeGroupState(stateOf(carol!, CHANNEL));
    const remove = await alice!.mls.removeMembers(CHANNEL, ["carol"]);
    await stream.publish(remove.commit, [alice!, bob!, carol!]);
    // bob still keeps that epoch for late messages, but not for carol's: she is gone.
    const old = { ...decodeGroupState(carolsState, 0)![0], clientConfig };
    const sent = await createApplicationMessage(old, text("still here?"), await loadCiphersuite());
    const bytes = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: sent.privateMessage });
    await expect(bob!.mls.receive(CHANNEL, bytes)).rejects.toMatchObject({ code: "sender_removed" });
  });

  it("a key package claiming a lifetime over 30 days", async () => {
    const [alice] = await pair();
    const cs = await loadCiphersuite();
    const zed = await openAgent("zed");
    const kp = await generateKeyPackageWithKey(
      credentialFor("zed", zed.mls.identity.signaturePublicKey), defaultCapabilities(), { notBefore: 0n, notAfter: 2n ** 40n }, [],
      { signKey: zed.mls.identity.signaturePrivateKey, publicKey: zed.mls.identity.signaturePublicKey }, cs,
    );
    await expect(alice.mls.addMembers(CHANNEL, [encodeKeyPackageMessage(kp.publicPackage)])).rejects.toMatchObject({ code: "expired_key_package" });
  });

  it("a second member with a name already in the channel", async () => {
    const [alice] = await pair();
    const otherBob = await openAgent("bob");
    await expect(alice.mls.addMembers(CHANNEL, [await otherBob.mls.createKeyPackage()])).rejects.toMatchObject({ code: "bad_request" });
  });

  it("channel names that are not org/namespace/service", async () => {
    const alice = await openAgent("alice");
    for (const name of ["", "acme", "acme/research", "Acme/x/y", "a/b/c/d", "a//c", "a/b/c d"]) {
      await expect(alice.mls.createChannel(name)).rejects.toMatchObject({ code: "bad_request" });
    }
  });

  it("an expired key package, and one not yet valid", async () => {
    let now = Date.UTC(2026, 10, 25);
    const clock = () => now;
    const [alice] = await pair(clock);
    const dave = await openAgent("dave", undefined, clock);
    const kp = await dave.mls.createKeyPackage();
    now += 31 * DAY_MS;
    await expect(alice.mls.addMembers(CHANNEL, [kp])).rejects.toMatchObject({ code: "expired_key_package" });
    now -= 40 * DAY_MS;
    await expect(alice.mls.addMembers(CHANNEL, [kp])).rejects.toMatchObject({ code: "expired_key_package" });
  });

  it("a credential whose name is bound to another key", async () => {
    const [alice] = await pair();
    const cs = await loadCiphersuite();
    const eve = await openAgent("eve");
    const other = await cs.signature.keygen();
    // eve signs with her key but claims a credential naming another key
    const kp = await generateKeyPackageWithKey(
      credentialFor("eve", other.publicKey), defaultCapabilities(), liveLifetime(), [],
      { signKey: eve.mls.identity.signaturePrivateKey, publicKey: eve.mls.identity.signaturePublicKey }, cs,
    );
    await expect(alice.mls.addMembers(CHANNEL, [encodeKeyPackageMessage(kp.publicPackage)])).rejects.toMatchObject({ code: "invalid_credential" });
  });

  it("an update that changes a member's name", async () => {
    const [alice, bob, stream] = await pair();
    const cs = await loadCiphersuite();
    // bob's own leaf is rewritten to a different (validly bound) name before he commits
    const state = stateOf(bob, CHANNEL);
    const leafIndex = state.privatePath.leafIndex;
    const node = state.ratchetTree[leafIndex * 2];
    if (node?.nodeType !== "leaf") throw new Error("no leaf");
    const renamed = { ...node, leaf: { ...node.leaf, credential: credentialFor("robert", node.leaf.signaturePublicKey) } };
    const tree = state.ratchetTree.map((n, i) => (i === leafIndex * 2 ? renamed : n));
    const { createCommit } = await import("ts-mls");
    const forged = await createCommit({ state: { ...state, ratchetTree: tree }, cipherSuite: cs });
    await expect(stream.publish(encodeMlsMessage(forged.commit), [alice])).rejects.toMatchObject({ code: "identity_changed" });
  });

  it("bad arguments and unknown channels", async () => {
    const [alice] = await pair();
    await expect(alice.mls.encrypt("nope/nope/nope", text("x"))).rejects.toMatchObject({ code: "not_found" });
    await expect(alice.mls.createChannel(CHANNEL)).rejects.toMatchObject({ code: "already_exists" });
    await expect(alice.mls.addMembers(CHANNEL, [])).rejects.toMatchObject({ code: "bad_request" });
    await expect(alice.mls.removeMembers(CHANNEL, ["zed"])).rejects.toMatchObject({ code: "not_found" });
    await expect(alice.mls.removeMembers(CHANNEL, ["alice"])).rejects.toMatchObject({ code: "bad_request" });
    await expect(alice.mls.join(new Uint8Array([0, 1, 0, 3]))).rejects.toMatchObject({ code: "bad_message" });
  });

  it("one key package, two Welcomes at once: only one join succeeds", async () => {
    const [[alice]] = await groupOf("acme/one/x", "alice");
    const [[bob]] = await groupOf("acme/two/x", "bob");
    const carol = await openAgent("carol");
    const kp = await carol.mls.createKeyPackage();
    const w1 = (await alice!.mls.addMembers("acme/one/x", [kp])).welcome!;
    const w2 = (await bob!.mls.addMembers("acme/two/x", [kp])).welcome!;
    const results = await Promise.allSettled([carol.mls.join(w1), carol.mls.join(w2)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.find((r) => r.status === "rejected")).toMatchObject({ reason: { code: "unknown_key_package" } });
  });

  it("a Welcome for a key package already used", async () => {
    const [alice, , stream] = await pair();
    const carol = await openAgent("carol");
    const add = await alice.mls.addMembers(CHANNEL, [await carol.mls.createKeyPackage()]);
    await stream.publish(add.commit, [alice]);
    await carol.mls.join(add.welcome!);
    await expect(carol.mls.join(add.welcome!)).rejects.toMatchObject({ code: "unknown_key_package" });
  });
});
