import type { ClientState } from "ts-mls";
import { contramapBufferEncoders, encode, type BufferEncoder } from "ts-mls/codec/tlsEncoder.js";
import { bigintMapEncoder, varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import type { EpochReceiverData } from "ts-mls/epochReceiverData.js";
import { groupActiveStateEncoder } from "ts-mls/groupActiveState.js";
import { groupContextEncoder } from "ts-mls/groupContext.js";
import { keyScheduleEncoder } from "ts-mls/keySchedule.js";
import { privateKeyPathEncoder } from "ts-mls/privateKeyPath.js";
import { nodeEncoder, type Node, type RatchetTree } from "ts-mls/ratchetTree.js";
import { unappliedProposalsEncoder } from "ts-mls/unappliedProposals.js";
import { secretTreeEncoder } from "./secretTreeCodec.js";
import { lengthPrefixSize, writeLengthPrefix } from "./tlsLength.js";

/**
 * ts-mls's encodeGroupState, byte for byte, with ratchet tree encodings remembered and the secret
 * trees written by a hand-made encoder (./secretTreeCodec.ts).
 *
 * The ratchet tree is most of a state's encoding (about 250 KB at 1,000 members, and 50 ms through
 * ts-mls's encoder, most of it garbage collection); a state is persisted after every message and
 * every commit, and also carries the previous epochs' trees. ts-mls states are immutable values:
 * it copies a tree before changing it and replaces a node rather than changing it, so the
 * encoding of a tree object, and of a node object, never changes. Both are kept as long as the
 * object is alive (WeakMaps: no entry outlives its object), so a commit's new tree costs the
 * encoding of the nodes it changed (the committer's path, an added leaf) plus a copy. Trees hold
 * public keys only.
 */
const encodedTrees = new WeakMap<RatchetTree, Uint8Array>();
const encodedNodes = new WeakMap<Node, Uint8Array>();
const encodeTreeNode = encode(nodeEncoder);

function nodeBytes(node: Node): Uint8Array {
  let bytes = encodedNodes.get(node);
  if (bytes === undefined) {
    bytes = encodeTreeNode(node);
    encodedNodes.set(node, bytes);
  }
  return bytes;
}

/**
 * As ts-mls's ratchetTreeEncoder: blank nodes after the last non-blank one are left out, the rest
 * is a variable-length vector of optional<Node> (0x00, or 0x01 and the node).
 */
function encodeTree(tree: RatchetTree): Uint8Array {
  let end = tree.length;
  while (end > 0 && tree[end - 1] === undefined) end--;
  let body = 0;
  for (let i = 0; i < end; i++) {
    const node = tree[i];
    body += node === undefined ? 1 : 1 + nodeBytes(node).length;
  }
  const out = new Uint8Array(lengthPrefixSize(body) + body);
  let at = writeLengthPrefix(new DataView(out.buffer), 0, body);
  for (let i = 0; i < end; i++) {
    const node = tree[i];
    if (node === undefined) {
      out[at++] = 0;
    } else {
      out[at++] = 1;
      const bytes = nodeBytes(node);
      out.set(bytes, at);
      at += bytes.length;
    }
  }
  return out;
}

const cachedRatchetTreeEncoder: BufferEncoder<RatchetTree> = (tree) => {
  let bytes = encodedTrees.get(tree);
  if (bytes === undefined) {
    bytes = encodeTree(tree);
    encodedTrees.set(tree, bytes);
  }
  const encoded = bytes;
  return [encoded.length, (offset, buffer) => new Uint8Array(buffer).set(encoded, offset)];
};

// Field order as ts-mls 1.6.4's epochReceiverDataEncoder and groupStateEncoder (clientState.js).
const epochReceiverDataEncoder = contramapBufferEncoders(
  [varLenDataEncoder, secretTreeEncoder, cachedRatchetTreeEncoder, varLenDataEncoder, groupContextEncoder],
  (erd: EpochReceiverData) => [erd.resumptionPsk, erd.secretTree, erd.ratchetTree, erd.senderDataSecret, erd.groupContext] as const,
);

const groupStateEncoder = contramapBufferEncoders(
  [
    groupContextEncoder,
    keyScheduleEncoder,
    secretTreeEncoder,
    cachedRatchetTreeEncoder,
    privateKeyPathEncoder,
    varLenDataEncoder,
    unappliedProposalsEncoder,
    varLenDataEncoder,
    bigintMapEncoder(epochReceiverDataEncoder),
    groupActiveStateEncoder,
  ],
  (state: ClientState) => [
    state.groupContext,
    state.keySchedule,
    state.secretTree,
    state.ratchetTree,
    state.privatePath,
    state.signaturePrivateKey,
    state.unappliedProposals,
    state.confirmationTag,
    state.historicalReceiverData,
    state.groupActiveState,
  ] as const,
);

/** The same bytes as ts-mls's encodeGroupState(state), decodable with decodeGroupState. */
export const encodeState: (state: ClientState) => Uint8Array = encode(groupStateEncoder);
