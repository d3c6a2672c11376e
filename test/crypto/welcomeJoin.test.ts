// skytale's own Welcome join (src/mls/welcomeJoin.ts, src/mls/treeValidation.ts) against the MLS
// interop vectors: every tree of tree-validation.json passes its checks, and a join from every
// passive-client Welcome it supports (tree inside, no PSKs) gives exactly ts-mls's state.
import { describe, expect, test } from "vitest";
import { decodeMlsMessage, defaultAuthenticationService, emptyPskIndex, joinGroup, type ClientConfig } from "ts-mls";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { ValidationError } from "ts-mls/mlsError.js";
import { decodeRatchetTree, type RatchetTree } from "ts-mls/ratchetTree.js";
import { root, leafWidth } from "ts-mls/treemath.js";
import { validateWelcomeTree } from "../../src/mls/treeValidation.js";
import { joinFromWelcome } from "../../src/mls/welcomeJoin.js";
import { cases, hex, loadVectors, nodeImpl, type PassiveClientVector } from "./vectors.js";

interface TreeValidationVector {
  cipher_suite: number;
  tree: string;
  group_id: string;
  tree_hashes: string[];
}

const config: ClientConfig = { ...defaultClientConfig, authService: defaultAuthenticationService };

function treeOf(v: TreeValidationVector): RatchetTree {
  const decoded = decodeRatchetTree(hex(v.tree), 0);
  if (decoded === undefined) throw new Error("bad vector tree");
  return decoded[0];
}

async function validate(v: TreeValidationVector, tree: RatchetTree) {
  const cs = await nodeImpl(v.cipher_suite);
  const groupContext = { version: "mls10" as const, cipherSuite: cs.name, groupId: hex(v.group_id), epoch: 0n, treeHash: new Uint8Array(), confirmedTranscriptHash: new Uint8Array(), extensions: [] };
  return validateWelcomeTree(tree, groupContext, config, hex(v.tree_hashes[root(leafWidth(tree.length))]!), cs);
}

describe("skytale's Welcome tree checks on the interop trees", () => {
  test.each(cases(loadVectors<TreeValidationVector>("tree-validation")))("tree %s is valid", async (_, v) => {
    expect(await validate(v, treeOf(v))).toBeUndefined();
  });

  test("a tree whose unmerged leaf is missing from a node between it and the node listing it is refused", async () => {
    const vectors = loadVectors<TreeValidationVector>("tree-validation");
    let tampered = 0;
    for (const v of vectors) {
      const tree = treeOf(v);
      for (const [index, node] of tree.entries()) {
        if (node?.nodeType !== "parent") continue;
        for (const [other, below] of tree.entries()) {
          // A non-blank node listing the same leaf below `index`: drop it there.
          if (other >= index || below?.nodeType !== "parent") continue;
          const shared = node.parent.unmergedLeaves.find((l) => below.parent.unmergedLeaves.includes(l));
          if (shared === undefined) continue;
          const copy = [...tree];
          copy[other] = { ...below, parent: { ...below.parent, unmergedLeaves: below.parent.unmergedLeaves.filter((l) => l !== shared) } };
          const error = await validate(v, copy);
          expect(error).toBeInstanceOf(ValidationError);
          tampered++;
        }
      }
    }
    expect(tampered).toBeGreaterThan(0);
  });
});

describe("skytale's Welcome join on the passive-client vectors", () => {
  const supported = (file: string) =>
    cases(loadVectors<PassiveClientVector>(file).filter((v) => v.external_psks.length === 0 && v.ratchet_tree === null));
  test.each([...supported("passive-client-welcome"), ...supported("passive-client-handling-commit"), ...supported("passive-client-random")])(
    "welcome %s gives ts-mls's state",
    async (_, v) => {
      const cs = await nodeImpl(v.cipher_suite);
      const kp = decodeMlsMessage(hex(v.key_package), 0)?.[0];
      const welcome = decodeMlsMessage(hex(v.welcome), 0)?.[0];
      if (kp?.wireformat !== "mls_key_package" || welcome?.wireformat !== "mls_welcome") throw new Error("bad vector");
      const keys = () => ({ initPrivateKey: hex(v.init_priv), hpkePrivateKey: hex(v.encryption_priv), signaturePrivateKey: hex(v.signature_priv) });
      const theirs = await joinGroup(welcome.welcome, kp.keyPackage, keys(), emptyPskIndex, cs, undefined, undefined, config);
      const ours = (await joinFromWelcome(welcome.welcome, kp.keyPackage, keys(), cs, config)).state;
      expect(ours).toEqual(theirs);
    },
  );
});
