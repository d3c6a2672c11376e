import type { ClientState } from "ts-mls";
import { contramapBufferEncoders, encode, type BufferEncoder } from "ts-mls/codec/tlsEncoder.js";
import { bigintMapEncoder, varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import type { EpochReceiverData } from "ts-mls/epochReceiverData.js";
import { groupActiveStateEncoder } from "ts-mls/groupActiveState.js";
import { groupContextEncoder } from "ts-mls/groupContext.js";
import { keyScheduleEncoder } from "ts-mls/keySchedule.js";
import { privateKeyPathEncoder } from "ts-mls/privateKeyPath.js";
import { ratchetTreeEncoder, type RatchetTree } from "ts-mls/ratchetTree.js";
import { unappliedProposalsEncoder } from "ts-mls/unappliedProposals.js";
import { secretTreeEncoder } from "./secretTreeCodec.js";

/**
 * ts-mls's encodeGroupState, byte for byte, with each ratchet tree's encoding remembered and the
 * secret trees written by a hand-made encoder (./secretTreeCodec.ts).
 *
 * The ratchet tree is most of a state's encoding (about 250 KB and 50 ms at 1,000 members), yet
 * it changes only with commits; a state is persisted after every message and every commit, and
 * also carries the previous epochs' trees. ts-mls states are immutable values (it copies a tree
 * before changing it), so a tree object's encoding never changes and can be kept as long as the
 * tree is alive (a WeakMap: no entry outlives its tree). Trees hold public keys only.
 */
const encodedTrees = new WeakMap<RatchetTree, Uint8Array>();
const encodeTree = encode(ratchetTreeEncoder);

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
