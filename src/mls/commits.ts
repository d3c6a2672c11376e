import { createCommit, createProposal, encodeMlsMessage, mlsExporter, type CiphersuiteImpl, type ClientState, type Proposal } from "ts-mls";
import { consumeRatchet } from "ts-mls/secretTree.js";
import { leafToNodeIndex, toLeafIndex } from "ts-mls/treemath.js";
import { MlsError } from "./errors.js";
import { toMlsError } from "./errorMapping.js";
import type { GroupCache } from "./groupCache.js";
import { stateRecord, type PendingCommit } from "./groupEntry.js";
import { memberIdentity, parseCredential } from "./identity.js";
import { assertKeyPackageLive } from "./keyPackages.js";
import { membersOf } from "./members.js";
import { decodeKeyPackageMessage, encodeWelcomeMessage } from "./messages.js";
import { withBucketPadding } from "./padding.js";
import { encodeState } from "./stateCodec.js";
import { CIPHER_SUITE } from "./suite.js";
import { COMMIT_KEY_BYTES, COMMIT_KEY_EXPORTER_LABEL, proveCommit, type CommitProof } from "../wire/commitProof.js";

/** A handshake ready to send; the local state moves only once it is confirmed. */
export interface OutgoingCommit {
  readonly channel: string;
  /** The epoch the commit was built on (what the relay compares with the channel's epoch). */
  readonly epoch: bigint;
  readonly commit: Uint8Array;
  /** For the members it adds, released by the relay only after the commit wins. */
  readonly welcome: Uint8Array | undefined;
  /** Shows the relay the commit comes from the current epoch (see wire/commitProof.ts). */
  readonly proof: CommitProof;
}

/**
 * Builds this agent's handshakes. Commits wait for the relay: each is kept aside as the pending
 * commit (persisted) and becomes current only when the relay's order says so; proposals change
 * the state at once.
 */
export class Committer {
  constructor(
    private readonly groups: GroupCache,
    private readonly cs: CiphersuiteImpl,
    private readonly nowSeconds: () => number,
  ) {}

  /** A commit adding the agents whose key packages (encoded MLSMessages) are given. */
  async addMembers(channel: string, keyPackages: readonly Uint8Array[]): Promise<OutgoingCommit> {
    const now = this.nowSeconds();
    const proposals: Proposal[] = keyPackages.map((bytes) => {
      const keyPackage = decodeKeyPackageMessage(bytes);
      if (keyPackage.cipherSuite !== CIPHER_SUITE) throw new MlsError("bad_request", "key package for another cipher suite");
      assertKeyPackageLive(keyPackage, now);
      const { credential, signaturePublicKey } = keyPackage.leafNode;
      if (memberIdentity(credential, signaturePublicKey) === undefined) {
        throw new MlsError("invalid_credential", "the key package's credential does not name the key it is signed with");
      }
      return { proposalType: "add", add: { keyPackage } };
    });
    if (proposals.length === 0) throw new MlsError("bad_request", "no key packages given");
    return this.commit(channel, (state) => {
      const names = membersOf(state).map((m) => m.name);
      for (const p of proposals) {
        if (p.proposalType !== "add") continue;
        const name = parseCredential(p.add.keyPackage.leafNode.credential)?.name ?? "";
        if (names.includes(name)) throw new MlsError("bad_request", `'${name}' is already a member of '${channel}' (names are unique in a channel)`);
        names.push(name);
      }
      return proposals;
    });
  }

  /** A commit removing every leaf of the named members. */
  removeMembers(channel: string, names: readonly string[]): Promise<OutgoingCommit> {
    return this.commit(channel, (state) => {
      const leaves = membersOf(state).filter((m) => names.includes(m.name));
      const missing = names.filter((name) => !leaves.some((m) => m.name === name));
      if (missing.length > 0) throw new MlsError("not_found", `not members of '${channel}': ${missing.join(", ")}`);
      if (leaves.some((m) => m.leafIndex === state.privatePath.leafIndex)) {
        throw new MlsError("bad_request", "an agent cannot remove itself; use leave");
      }
      return leaves.map((m) => ({ proposalType: "remove", remove: { removed: m.leafIndex } }));
    });
  }

  /** A commit of the proposals received so far; bad_request when there are none. */
  commitPendingProposals(channel: string): Promise<OutgoingCommit> {
    return this.commit(channel, (state) => {
      if (Object.keys(state.unappliedProposals).length === 0) throw new MlsError("bad_request", `no proposals pending on '${channel}'`);
      return [];
    });
  }

  /** A proposal to remove this agent (MLS does not let a member commit its own removal). */
  proposeLeave(channel: string): Promise<Uint8Array> {
    return this.groups.locked(channel, async () => {
      const entry = this.groups.active(channel);
      const padded = withBucketPadding(this.cs, entry.state.groupContext.groupId, entry.state.groupContext.epoch);
      const proposal: Proposal = { proposalType: "remove", remove: { removed: entry.state.privatePath.leafIndex } };
      let result: Awaited<ReturnType<typeof createProposal>>;
      try {
        result = await createProposal(entry.state, false, proposal, padded);
      } catch (error) {
        throw toMlsError(error, "bad_request");
      }
      this.groups.apply({ channel, state: stateRecord(result.newState) });
      entry.state = result.newState;
      return encodeMlsMessage(result.message);
    });
  }

  /** The pending commit (it survives a restart) with the identity keys it adds, to send again; undefined when there is none. */
  pendingCommit(channel: string): Promise<(OutgoingCommit & { added: Uint8Array[] }) | undefined> {
    return this.groups.locked(channel, async () => {
      const entry = this.groups.load(channel);
      if (entry.pending === undefined) return undefined;
      const before = new Set(membersOf(entry.state).map((m) => m.did));
      const { pending, state } = entry;
      const added = membersOf(pending.newState).filter((m) => !before.has(m.did)).map((m) => m.signaturePublicKey);
      const { groupId, epoch } = state.groupContext;
      const proof = proveCommit(groupId, epoch, pending.commit, await this.commitKeySeed(state), await this.commitKeySeed(pending.newState));
      return { channel, epoch, commit: pending.commit, welcome: pending.welcome, proof, added };
    });
  }

  /** The relay rejected our pending commit: drop it; rebuild on the newer epoch once processed. */
  discardCommit(channel: string): Promise<void> {
    return this.groups.locked(channel, async () => {
      const entry = this.groups.load(channel);
      if (entry.pending === undefined) throw new MlsError("no_pending_commit", `no commit pending on '${channel}'`);
      this.groups.apply({ channel, pending: null });
      entry.pending = undefined;
    });
  }

  /** A commit of `proposalsFor(state)` plus the proposals received so far, kept pending. */
  commit(channel: string, proposalsFor: (state: ClientState) => Proposal[]): Promise<OutgoingCommit> {
    return this.groups.locked(channel, async () => {
      const entry = this.groups.active(channel);
      if (entry.pending !== undefined) throw new MlsError("commit_pending", `a commit on '${channel}' awaits the relay's answer`);
      const { state } = entry;
      const extraProposals = proposalsFor(state);
      const padded = withBucketPadding(this.cs, state.groupContext.groupId, state.groupContext.epoch);
      // Only a Welcome needs the ratchet tree; without one, ts-mls would still encode and sign a
      // GroupInfo carrying the whole tree and throw it away (tens of ms at 1,000 members).
      const adds = [...extraProposals, ...Object.values(state.unappliedProposals).map((p) => p.proposal)].some((p) => p.proposalType === "add");
      let result: Awaited<ReturnType<typeof createCommit>>;
      try {
        result = await createCommit({ state, cipherSuite: padded }, { extraProposals, ratchetTreeExtension: adds });
      } catch (error) {
        throw toMlsError(error, "bad_request");
      }
      // createCommit used a handshake generation of this epoch without recording it in the current
      // state; record it, so a commit rebuilt on this same epoch never reuses that key and nonce.
      const ownNode = leafToNodeIndex(toLeafIndex(state.privatePath.leafIndex));
      const advanced = await consumeRatchet(state.secretTree, ownNode, "commit", this.cs);
      const current: ClientState = { ...state, secretTree: advanced.newTree };
      const pending: PendingCommit = {
        commit: encodeMlsMessage(result.commit),
        welcome: result.welcome && encodeWelcomeMessage(result.welcome),
        newState: result.newState,
        consumed: [...result.consumed, ...advanced.consumed],
      };
      this.groups.apply({
        channel,
        state: stateRecord(current),
        pending: { commit: pending.commit, welcome: pending.welcome, newState: encodeState(pending.newState) },
      });
      entry.state = current;
      entry.pending = pending;
      const { groupId, epoch } = state.groupContext;
      const proof = proveCommit(groupId, epoch, pending.commit, await this.commitKeySeed(state), await this.commitKeySeed(pending.newState));
      return { channel, epoch, commit: pending.commit, welcome: pending.welcome, proof };
    });
  }

  private commitKeySeed(state: ClientState): Promise<Uint8Array> {
    return commitKeySeed(state, this.cs);
  }
}

/** The seed of an epoch's commit key: only members of that epoch can compute it. */
export function commitKeySeed(state: ClientState, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return mlsExporter(state.keySchedule.exporterSecret, COMMIT_KEY_EXPORTER_LABEL, new Uint8Array(0), COMMIT_KEY_BYTES, cs);
}
