import type { AuthenticationService, ClientConfig, CiphersuiteImpl, GroupContext } from "ts-mls";
import { validateLeafNodeUpdateOrCommit } from "ts-mls/clientState.js";
import { extensionsSupportedByCapabilities } from "ts-mls/extension.js";
import type { LeafNode, LeafNodeKeyPackage } from "ts-mls/leafNode.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { CodecError, CryptoVerificationError, type MlsError as TsMlsError, ValidationError } from "ts-mls/mlsError.js";
import { verifyParentHashes } from "ts-mls/parentHash.js";
import type { RatchetTree } from "ts-mls/ratchetTree.js";
import { decodeRequiredCapabilities } from "ts-mls/requiredCapabilities.js";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { directPath, isLeaf, leafToNodeIndex, leafWidth, nodeToLeafIndex, toLeafIndex, toNodeIndex } from "ts-mls/treemath.js";
import { bytesEqual } from "./identity.js";

/**
 * The checks a joiner makes on the ratchet tree of a Welcome (RFC 9420 §12.4.3.1), as ts-mls
 * 1.6.4's validateRatchetTree makes them, with one check corrected.
 *
 * For an unmerged leaf L listed at a node P, the RFC asks that every non-blank node *between* L and
 * P list L too. ts-mls 1.6.4 instead asks every non-blank node on L's whole path to hold exactly
 * P's list. Ordinary trees break that: add a member under a node that is not blank, let a member
 * on the other side update (the root's list is emptied, the lower node's is not), and every
 * Welcome from then on is refused with "non-blank intermediate node must list leaf node in its
 * unmerged_leaves": the added agent counts as a member to everyone else and never holds the
 * channel. Later ts-mls releases check what the RFC says; this file goes with the upgrade.
 * Returns the first error found, as ts-mls does.
 */
export async function validateWelcomeTree(
  tree: RatchetTree,
  groupContext: GroupContext,
  config: ClientConfig,
  treeHash: Uint8Array,
  cs: CiphersuiteImpl,
): Promise<TsMlsError | undefined> {
  const hpkeKeys = new Set<string>();
  const signatureKeys = new Set<string>();
  const credentialTypes = new Set<string>();
  for (const [i, n] of tree.entries()) {
    const nodeIndex = toNodeIndex(i);
    if (n === undefined) continue;
    if (isLeaf(nodeIndex) !== (n.nodeType === "leaf")) return new ValidationError("Received Ratchet Tree is not structurally sound");
    if (!unique(hpkeKeys, n.nodeType === "leaf" ? n.leaf.hpkePublicKey : n.parent.hpkePublicKey)) return new ValidationError("hpke keys not unique");
    if (n.nodeType === "leaf") {
      if (!unique(signatureKeys, n.leaf.signaturePublicKey)) return new ValidationError("signature keys not unique");
      credentialTypes.add(n.leaf.credential.credentialType);
      const error = await validateLeaf(n.leaf, nodeToLeafIndex(nodeIndex), groupContext, config, cs);
      if (error !== undefined) return error;
    } else {
      const error = unmergedLeavesError(tree, nodeIndex, n.parent.unmergedLeaves);
      if (error !== undefined) return error;
    }
  }
  for (const n of tree) {
    if (n?.nodeType !== "leaf") continue;
    for (const type of credentialTypes) {
      if (!(n.leaf.capabilities.credentials as string[]).includes(type)) {
        return new ValidationError("LeafNode has credential that is not supported by member of the group");
      }
    }
  }
  if (!(await verifyParentHashes(tree, cs.hash))) return new CryptoVerificationError("Unable to verify parent hash");
  if (!bytesEqual(treeHash, await treeHashRoot(tree, cs.hash))) return new ValidationError("Unable to verify tree hash");
  return undefined;
}

/** Each unmerged leaf of the parent at `parentIndex` is a leaf below it, listed by every non-blank node between them. */
function unmergedLeavesError(tree: RatchetTree, parentIndex: number, unmergedLeaves: readonly number[]): TsMlsError | undefined {
  for (const unmerged of unmergedLeaves) {
    const leafNode = leafToNodeIndex(toLeafIndex(unmerged));
    const path = directPath(leafNode, leafWidth(tree.length));
    const at = path.indexOf(toNodeIndex(parentIndex));
    if (tree[leafNode]?.nodeType !== "leaf" || at === -1) {
      return new ValidationError("Unmerged leaf did not represent a non-blank descendant leaf node");
    }
    for (const between of path.slice(0, at)) {
      const node = tree[between];
      if (node !== undefined && (node.nodeType !== "parent" || !node.parent.unmergedLeaves.includes(unmerged))) {
        return new ValidationError("non-blank intermediate node must list leaf node in its unmerged_leaves");
      }
    }
  }
  return undefined;
}

async function validateLeaf(leaf: LeafNode, leafIndex: number, groupContext: GroupContext, config: ClientConfig, cs: CiphersuiteImpl): Promise<TsMlsError | undefined> {
  if (leaf.leafNodeSource !== "key_package") {
    return validateLeafNodeUpdateOrCommit(leaf, leafIndex, groupContext, config.authService, cs.signature);
  }
  if (!(await verifyLeafNodeSignatureKeyPackage(leaf as LeafNodeKeyPackage, cs.signature))) {
    return new CryptoVerificationError("Could not verify leaf node signature");
  }
  if (config.lifetimeConfig.validateLifetimeOnReceive) {
    const now = BigInt(Math.floor(Date.now() / 1000));
    if (leaf.lifetime.notBefore > now || leaf.lifetime.notAfter < now) return new ValidationError("Current time not within Lifetime");
  }
  return validateLeafCommon(leaf, groupContext, config.authService);
}

/** What ts-mls checks of every leaf: a valid credential, the group's required capabilities, its own extensions listed. */
async function validateLeafCommon(leaf: LeafNode, groupContext: GroupContext, authService: AuthenticationService): Promise<TsMlsError | undefined> {
  if (!(await authService.validateCredential(leaf.credential, leaf.signaturePublicKey))) return new ValidationError("Could not validate credential");
  const required = groupContext.extensions.find((e) => e.extensionType === "required_capabilities");
  if (required !== undefined) {
    const decoded = decodeRequiredCapabilities(required.extensionData, 0);
    if (decoded === undefined) return new CodecError("Could not decode required_capabilities");
    const [caps] = decoded;
    const supported =
      caps.credentialTypes.every((c) => leaf.capabilities.credentials.includes(c)) &&
      caps.extensionTypes.every((e) => leaf.capabilities.extensions.includes(e)) &&
      caps.proposalTypes.every((p) => leaf.capabilities.proposals.includes(p));
    if (!supported) return new ValidationError("LeafNode does not support required capabilities");
  }
  if (!extensionsSupportedByCapabilities(leaf.extensions, leaf.capabilities)) return new ValidationError("LeafNode contains extension not listed in capabilities");
  return undefined;
}

function unique(seen: Set<string>, key: Uint8Array): boolean {
  const text = Buffer.from(key).toString("base64");
  if (seen.has(text)) return false;
  seen.add(text);
  return true;
}
