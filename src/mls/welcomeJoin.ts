import type { CiphersuiteImpl, ClientConfig, ClientState, KeyPackage, PrivateKeyPackage, Welcome } from "ts-mls";
import { extensionsSupportedByCapabilities } from "ts-mls/extension.js";
import { ratchetTreeFromExtension, verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from "ts-mls/groupInfo.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { deriveKeySchedule } from "ts-mls/keySchedule.js";
import { CodecError, CryptoVerificationError, UsageError, ValidationError } from "ts-mls/mlsError.js";
import { pathToRoot } from "ts-mls/pathSecrets.js";
import { mergePrivateKeyPaths, toPrivateKeyPath } from "ts-mls/privateKeyPath.js";
import { findLeafIndex } from "ts-mls/ratchetTree.js";
import { createSecretTree } from "ts-mls/secretTree.js";
import { leafToNodeIndex, leafWidth, toLeafIndex } from "ts-mls/treemath.js";
import { firstCommonAncestor } from "ts-mls/updatePath.js";
import { zeroOutUint8Array } from "ts-mls/util/byteArray.js";
import { decryptGroupInfo, decryptGroupSecrets } from "ts-mls/welcome.js";
import { validateWelcomeTree } from "./treeValidation.js";

/**
 * ts-mls 1.6.4's joinGroup, step for step, with the ratchet tree checked by validateWelcomeTree
 * (see there for the one check that differs). What skytale never uses is refused instead of
 * supported: pre-shared keys (so no resumption) and Welcomes without the ratchet tree in them.
 * Returns the state and the leaf that signed the GroupInfo (the member who added us).
 */
export async function joinFromWelcome(
  welcome: Welcome,
  keyPackage: KeyPackage,
  privateKeys: PrivateKeyPackage,
  cs: CiphersuiteImpl,
  clientConfig: ClientConfig,
): Promise<{ state: ClientState; signer: number }> {
  const keyPackageRef = await makeKeyPackageRef(keyPackage, cs.hash);
  const initKey = await cs.hpke.importPrivateKey(privateKeys.initPrivateKey);
  const groupSecrets = await decryptGroupSecrets(initKey, keyPackageRef, welcome, cs.hpke);
  if (groupSecrets === undefined) throw new CodecError("Could not decode group secrets");
  if (groupSecrets.psks.length > 0) throw new ValidationError("Welcome uses pre-shared keys, which skytale groups never do");
  const pskSecret = new Uint8Array(cs.kdf.size);
  const gi = await decryptGroupInfo(welcome, groupSecrets.joinerSecret, pskSecret, cs);
  if (gi === undefined) throw new CodecError("Could not decode group info");
  if (!extensionsSupportedByCapabilities(gi.groupContext.extensions, keyPackage.leafNode.capabilities)) {
    throw new UsageError("client does not support every extension in the GroupContext");
  }
  const tree = ratchetTreeFromExtension(gi);
  if (tree === undefined) throw new UsageError("No RatchetTree passed and no ratchet_tree extension");
  const signer = tree[leafToNodeIndex(toLeafIndex(gi.signer))];
  if (signer === undefined) throw new ValidationError("Could not find signer leafNode");
  if (signer.nodeType === "parent") throw new ValidationError("Expected non blank leaf node");
  if (!(await clientConfig.authService.validateCredential(signer.leaf.credential, signer.leaf.signaturePublicKey))) {
    throw new ValidationError("Could not validate credential");
  }
  if (!(await verifyGroupInfoSignature(gi, signer.leaf.signaturePublicKey, cs.signature))) {
    throw new CryptoVerificationError("Could not verify groupInfo signature");
  }
  if (gi.groupContext.cipherSuite !== keyPackage.cipherSuite) {
    throw new ValidationError("cipher suite in the GroupInfo does not match the cipher_suite in the KeyPackage");
  }
  const treeError = await validateWelcomeTree(tree, gi.groupContext, clientConfig, gi.groupContext.treeHash, cs);
  if (treeError !== undefined) throw treeError;
  const ownLeaf = findLeafIndex(tree, keyPackage.leafNode);
  if (ownLeaf === undefined) throw new ValidationError("Could not find own leaf when processing welcome");
  const ownKeys = { leafIndex: ownLeaf, privateKeys: { [leafToNodeIndex(ownLeaf)]: privateKeys.hpkePrivateKey } };
  const privatePath =
    groupSecrets.pathSecret === undefined
      ? ownKeys
      : mergePrivateKeyPaths(
          await toPrivateKeyPath(await pathToRoot(tree, firstCommonAncestor(tree, ownLeaf, toLeafIndex(gi.signer)), groupSecrets.pathSecret, cs.kdf), ownLeaf, cs),
          ownKeys,
        );
  const [keySchedule, encryptionSecret] = await deriveKeySchedule(groupSecrets.joinerSecret, pskSecret, gi.groupContext, cs.kdf);
  if (!(await verifyGroupInfoConfirmationTag(gi, groupSecrets.joinerSecret, pskSecret, cs))) {
    throw new CryptoVerificationError("Could not verify confirmation tag");
  }
  const secretTree = await createSecretTree(leafWidth(tree.length), encryptionSecret, cs.kdf);
  zeroOutUint8Array(encryptionSecret);
  zeroOutUint8Array(groupSecrets.joinerSecret);
  const state: ClientState = {
    groupContext: gi.groupContext,
    ratchetTree: tree,
    privatePath,
    signaturePrivateKey: privateKeys.signaturePrivateKey,
    confirmationTag: gi.confirmationTag,
    unappliedProposals: {},
    keySchedule,
    secretTree,
    historicalReceiverData: new Map(),
    groupActiveState: { kind: "active" },
    clientConfig,
  };
  return { state, signer: gi.signer };
}
