import { describe, expect, test } from "vitest";
import type { CiphersuiteImpl, GroupContext, PrivateKeyPath, RatchetTree } from "ts-mls";
import { applyUpdatePathSecret } from "ts-mls/createCommit.js";
import { deriveSecret } from "ts-mls/crypto/kdf.js";
import { getCommitSecret, type PathSecrets } from "ts-mls/pathSecrets.js";
import { toPrivateKeyPath } from "ts-mls/privateKeyPath.js";
import { decodeRatchetTree, getHpkePublicKey } from "ts-mls/ratchetTree.js";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { leafToNodeIndex, toLeafIndex } from "ts-mls/treemath.js";
import { applyUpdatePath, createUpdatePath, decodeUpdatePath, type UpdatePath } from "ts-mls/updatePath.js";
import { cases, hex, hpkeKeysMatch, loadVectors, nodeImpl, suiteName } from "./vectors.js";

interface LeafPrivate {
  index: number;
  encryption_priv: string;
  signature_priv: string;
  path_secrets: { node: number; path_secret: string }[];
}

interface UpdatePathCase {
  sender: number;
  update_path: string;
  /** Indexed by leaf: what that leaf decrypts (null for the sender and leaves without private state). */
  path_secrets: (string | null)[];
  commit_secret: string;
  tree_hash_after: string;
}

interface TreeKemVector {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  confirmed_transcript_hash: string;
  ratchet_tree: string;
  leaves_private: LeafPrivate[];
  update_paths: UpdatePathCase[];
}

function nodeSecretsOf(leaf: LeafPrivate): PathSecrets {
  return Object.fromEntries(leaf.path_secrets.map((ps) => [ps.node, hex(ps.path_secret)]));
}

async function privatePathOf(leaf: LeafPrivate, cs: CiphersuiteImpl): Promise<PrivateKeyPath> {
  const path = await toPrivateKeyPath(nodeSecretsOf(leaf), leaf.index, cs);
  const leafNode = leafToNodeIndex(toLeafIndex(leaf.index));
  return { ...path, privateKeys: { ...path.privateKeys, [leafNode]: hex(leaf.encryption_priv) } };
}

/** Each leaf's private keys match the public keys the tree holds for it and its path. */
async function checkTreeKeys(v: TreeKemVector, tree: RatchetTree, cs: CiphersuiteImpl): Promise<void> {
  for (const leaf of v.leaves_private) {
    const node = tree[leafToNodeIndex(toLeafIndex(leaf.index))];
    if (node?.nodeType !== "leaf") throw new Error(`no leaf at ${leaf.index}`);
    expect(await hpkeKeysMatch(node.leaf.hpkePublicKey, hex(leaf.encryption_priv), cs.hpke)).toBe(true);
    for (const ps of leaf.path_secrets) {
      const { publicKey } = await cs.hpke.deriveKeyPair(await deriveSecret(hex(ps.path_secret), "node", cs.kdf));
      const pathNode = tree[ps.node];
      if (pathNode === undefined) throw new Error(`blank node ${ps.node} has a path secret`);
      expect(await cs.hpke.exportPublicKey(publicKey)).toStrictEqual(getHpkePublicKey(pathNode));
    }
  }
}

async function commitSecretFor(
  tree: RatchetTree,
  receiver: PrivateKeyPath,
  sender: number,
  gc: GroupContext,
  path: UpdatePath,
  cs: CiphersuiteImpl,
): Promise<{ pathSecret: Uint8Array; commitSecret: Uint8Array }> {
  const { nodeIndex, pathSecret } = await applyUpdatePathSecret(tree, receiver, toLeafIndex(sender), gc, path, [], cs);
  return { pathSecret, commitSecret: await getCommitSecret(tree, nodeIndex, pathSecret, cs.kdf) };
}

describe("treekem vectors (node provider)", () => {
  test.each(cases(loadVectors<TreeKemVector>("treekem")))("%s", async (_, v) => {
    const cs = await nodeImpl(v.cipher_suite);
    const tree = decodeRatchetTree(hex(v.ratchet_tree), 0)?.[0];
    if (tree === undefined) throw new Error("ratchet_tree does not decode");
    const gc: GroupContext = {
      version: "mls10",
      cipherSuite: suiteName(v.cipher_suite),
      groupId: hex(v.group_id),
      epoch: BigInt(v.epoch),
      treeHash: await treeHashRoot(tree, cs.hash),
      confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
      extensions: [],
    };

    await checkTreeKeys(v, tree, cs);
    const receivers = await Promise.all(v.leaves_private.map((leaf) => privatePathOf(leaf, cs)));

    for (const up of v.update_paths) {
      const path = decodeUpdatePath(hex(up.update_path), 0)?.[0];
      if (path === undefined) throw new Error("update_path does not decode");
      const treeAfter = await applyUpdatePath(tree, toLeafIndex(up.sender), path, cs.hash);
      const treeHashAfter = await treeHashRoot(treeAfter, cs.hash);
      expect(treeHashAfter).toStrictEqual(hex(up.tree_hash_after));
      const gcAfter = { ...gc, treeHash: treeHashAfter };

      // A fresh update path from the same sender, encrypted by our HPKE seal.
      const senderPrivate = v.leaves_private.find((lp) => lp.index === up.sender);
      if (senderPrivate === undefined) throw new Error("no private state for the sender");
      const [ourTree, ourPath, ourSecrets] = await createUpdatePath(
        treeAfter,
        toLeafIndex(up.sender),
        gcAfter,
        hex(senderPrivate.signature_priv),
        cs,
      );
      const rootSecret = ourSecrets.at(-1);
      if (rootSecret === undefined) throw new Error("update path without secrets");
      const ourCommitSecret = await deriveSecret(rootSecret.secret, "path", cs.kdf);
      const ourGc = { ...gc, treeHash: await treeHashRoot(ourTree, cs.hash), epoch: gc.epoch + 1n };

      for (const receiver of receivers) {
        if (receiver.leafIndex === up.sender) {
          expect(up.path_secrets[receiver.leafIndex]).toBeNull();
          continue;
        }
        const theirs = await commitSecretFor(tree, receiver, up.sender, gcAfter, path, cs);
        expect(theirs.pathSecret).toStrictEqual(hex(up.path_secrets[receiver.leafIndex] ?? ""));
        expect(theirs.commitSecret).toStrictEqual(hex(up.commit_secret));

        const ours = await commitSecretFor(tree, receiver, up.sender, ourGc, ourPath, cs);
        expect(ours.commitSecret).toStrictEqual(ourCommitSecret);
      }
    }
  });
});
