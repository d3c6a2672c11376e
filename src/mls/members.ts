import type { ClientState } from "ts-mls";
import type { LeafNode } from "ts-mls/leafNode.js";
import type { RatchetTree } from "ts-mls/ratchetTree.js";
import { MlsError } from "./errors.js";
import { bytesEqual, memberIdentity, type MemberIdentity } from "./identity.js";

export interface Member extends MemberIdentity {
  readonly leafIndex: number;
}

/** The leaf at `leafIndex` (leaves sit at even node indices), if the slot is occupied. */
export function leafAt(tree: RatchetTree, leafIndex: number): LeafNode | undefined {
  const node = tree[leafIndex * 2];
  return node?.nodeType === "leaf" ? node.leaf : undefined;
}

/**
 * Identities of leaf nodes already seen, by leaf object. ts-mls never changes a leaf node in place
 * (an update makes a new one) and a leaf stays in the trees of later epochs, so its identity is
 * read once rather than once per member listing (every commit checks all 1,000 names at 1,000
 * members). A WeakMap: an entry goes with its leaf; leaves hold public data only.
 */
const identities = new WeakMap<LeafNode, MemberIdentity | null>();

function identityOf(leaf: LeafNode): MemberIdentity | undefined {
  let identity = identities.get(leaf);
  if (identity === undefined) {
    identity = memberIdentity(leaf.credential, leaf.signaturePublicKey) ?? null;
    identities.set(leaf, identity);
  }
  return identity ?? undefined;
}

/** Verified identity of the member at `leafIndex`; throws if the slot is empty or unbound. */
export function memberAt(tree: RatchetTree, leafIndex: number): Member {
  const leaf = leafAt(tree, leafIndex);
  const identity = leaf && identityOf(leaf);
  if (identity === undefined) throw new MlsError("decryption_failure", "sender is not a verified member");
  return { ...identity, leafIndex };
}

/** Every member of the group, in leaf order. */
export function membersOf(state: ClientState): Member[] {
  const members: Member[] = [];
  for (let leafIndex = 0; leafIndex * 2 < state.ratchetTree.length; leafIndex++) {
    if (leafAt(state.ratchetTree, leafIndex) !== undefined) members.push(memberAt(state.ratchetTree, leafIndex));
  }
  return members;
}

/** Names identify members to people and tools, so one name is one member (one key). */
export function assertUniqueNames(state: ClientState): void {
  const seen = new Set<string>();
  for (const m of membersOf(state)) {
    if (seen.has(m.name)) throw new MlsError("invalid_credential", `two members are named '${m.name}'`);
    seen.add(m.name);
  }
}

/** True when the member at `leafIndex` of `before` still holds that leaf, same identity, in `after`. */
export function stillMember(before: RatchetTree, after: RatchetTree, leafIndex: number): boolean {
  const was = leafAt(before, leafIndex);
  const now = leafAt(after, leafIndex);
  return was !== undefined && now !== undefined && was.credential.credentialType === "basic" &&
    now.credential.credentialType === "basic" && bytesEqual(was.credential.identity, now.credential.identity);
}

/**
 * RFC 9420 §5.3.1: an update must not change who a member is. ts-mls 1.x does not check this
 * (its authentication callback is not told which leaf it judges), so after a commit we compare
 * every leaf that was updated in place (source update or commit) with the same slot before.
 * Slots refilled by an Add carry source key_package and are new members, not successors.
 */
export function assertSameIdentities(before: RatchetTree, after: RatchetTree): void {
  for (let leafIndex = 0; leafIndex * 2 < after.length; leafIndex++) {
    const now = leafAt(after, leafIndex);
    const was = leafAt(before, leafIndex);
    // The same leaf object is the same leaf (ts-mls replaces a leaf it changes): most of them.
    if (now === undefined || was === undefined || now === was || now.leafNodeSource === "key_package") continue;
    if (now.credential.credentialType !== "basic" || was.credential.credentialType !== "basic" ||
        !bytesEqual(now.credential.identity, was.credential.identity)) {
      throw new MlsError("identity_changed", `member at leaf ${leafIndex} tried to change identity in an update`);
    }
  }
}
