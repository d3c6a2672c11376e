import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createProposal,
  decodeGroupState,
  emptyPskIndex,
  encodeGroupState,
  joinGroup,
  makePskIndex,
  processPrivateMessage,
  type ClientState,
  type MLSMessage,
} from "ts-mls";
import type { PrivateMessage } from "ts-mls/privateMessage.js";
import { describe, expect, it } from "vitest";
import { createKeyPackage } from "../../src/mls/keyPackages.js";
import { encodeState } from "../../src/mls/stateCodec.js";
import { clientConfig, loadCiphersuite } from "../../src/mls/suite.js";

function privateOf(m: MLSMessage): PrivateMessage {
  if (m.wireformat !== "mls_private_message") throw new Error("expected a PrivateMessage");
  return m.privateMessage;
}

describe("encodeState (ts-mls's state encoding with tree and node encodings kept)", () => {
  it("gives ts-mls's exact bytes through commits, messages, proposals and late messages, and decodes", async () => {
    const cs = await loadCiphersuite();
    const now = Math.floor(Date.now() / 1000);
    const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map(async (name) => {
      const keys = await cs.signature.keygen();
      return createKeyPackage({ name, signaturePublicKey: keys.publicKey, signaturePrivateKey: keys.signKey }, cs, now);
    }));
    const seen: ClientState[] = [];
    const check = (...states: ClientState[]) => {
      for (const s of states) {
        seen.push(s);
        const ours = encodeState(s);
        expect(Buffer.from(ours).equals(Buffer.from(encodeGroupState(s)))).toBe(true);
        // A second encoding of the same value (now from the cache) is the same too.
        expect(Buffer.from(encodeState(s)).equals(Buffer.from(ours))).toBe(true);
        const decoded = decodeGroupState(ours, 0)![0];
        expect(Buffer.from(encodeState({ ...decoded, clientConfig })).equals(Buffer.from(ours))).toBe(true);
      }
    };
    let alice = await createGroup(new Uint8Array(12).fill(3), a!.keyPackage, a!.privateKeys, [], cs, clientConfig);
    check(alice);
    const add = await createCommit({ state: alice, cipherSuite: cs }, {
      extraProposals: [b!, c!].map((m) => ({ proposalType: "add" as const, add: { keyPackage: m.keyPackage } })),
      ratchetTreeExtension: true,
    });
    alice = add.newState;
    let bob = await joinGroup(add.welcome!, b!.keyPackage, b!.privateKeys, emptyPskIndex, cs, undefined, undefined, clientConfig);
    check(alice, bob);
    // A message of this epoch that Bob only reads after the next commit (from historical data).
    const late = await createApplicationMessage(alice, new Uint8Array([1, 2, 3]), cs);
    alice = late.newState;
    const update = await createCommit({ state: alice, cipherSuite: cs }, {
      extraProposals: [{ proposalType: "add", add: { keyPackage: d!.keyPackage } }],
      ratchetTreeExtension: true,
    });
    alice = update.newState;
    bob = (await processPrivateMessage(bob, privateOf(update.commit), makePskIndex(bob, {}), cs)).newState;
    check(alice, bob);
    bob = (await processPrivateMessage(bob, late.privateMessage, makePskIndex(bob, {}), cs)).newState;
    check(bob);
    const leave = await createProposal(bob, false, { proposalType: "remove", remove: { removed: bob.privatePath.leafIndex } }, cs);
    bob = leave.newState;
    alice = (await processPrivateMessage(alice, privateOf(leave.message), makePskIndex(alice, {}), cs)).newState;
    check(alice, bob);
    const commitLeave = await createCommit({ state: alice, cipherSuite: cs }, { ratchetTreeExtension: false });
    alice = commitLeave.newState;
    check(alice);
    // Removing the last leaf leaves blank nodes at the end of the tree, which are not encoded.
    const lastLeaf = alice.ratchetTree.length - 1;
    expect(alice.ratchetTree[lastLeaf]?.nodeType).toBe("leaf");
    const removeLast = await createCommit({ state: alice, cipherSuite: cs }, {
      extraProposals: [{ proposalType: "remove", remove: { removed: lastLeaf / 2 } }],
      ratchetTreeExtension: false,
    });
    alice = removeLast.newState;
    expect(alice.ratchetTree[alice.ratchetTree.length - 1]).toBeUndefined();
    check(alice);
    for (let i = 0; i < 3; i++) {
      const m = await createApplicationMessage(alice, new Uint8Array(100).fill(i), cs);
      alice = m.newState;
      check(alice);
    }
    // Every state seen still encodes as ts-mls does, after all that followed.
    for (const s of seen) expect(Buffer.from(encodeState(s)).equals(Buffer.from(encodeGroupState(s)))).toBe(true);
  });
});
