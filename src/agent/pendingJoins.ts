import { bytesEqual } from "../mls/identity.js";
import type { AgentError, PendingJoinView } from "./types.js";

/** Joins remembered at most, the oldest let go first: one per channel this agent asked to join. */
const MAX_JOINS = 32;

/** Who made the invite a join was asked with (the group must have them in it), and who made the channel. */
export interface Inviter {
  readonly name: string;
  readonly key: Uint8Array;
  /** The channel creator's key the invite names; the group's genesis must name it too. */
  readonly creator: Uint8Array | undefined;
}

/** A join request this agent sent with an invite. */
export interface SentJoinRequest {
  /** The channel's name, as the invite gives it. */
  readonly channel: string;
  readonly groupHex: string;
  readonly inviter: Inviter;
  readonly inviteId: Uint8Array;
  /** The invite's secret: a member's refusal must carry a MAC under it. */
  readonly secret: Uint8Array;
  /** The request's own MAC, which names it in a refusal. */
  readonly requestMac: Uint8Array;
  /** ms */
  readonly requestedAt: number;
}

/**
 * Where a join stands. `refused`: a member refused the request (used up, expired, revoked), or
 * the Welcome that came is not one to take. After a member's refusal a Welcome is still taken
 * (`welcomeExpected`): a refusal's MAC is under the invite's secret, which every holder of the
 * invite knows, so a forged one may end the caller's wait but must not stop a join the members make.
 */
type JoinState =
  | { readonly kind: "waiting" }
  | { readonly kind: "refused"; readonly error: AgentError; readonly welcomeExpected: boolean }
  | { readonly kind: "joined" };

interface Join {
  readonly request: SentJoinRequest;
  state: JoinState;
}

/**
 * The joins this agent asked for with an invite, by group (hex), in memory: a request waiting for
 * a member, how it ended, and what a Welcome for it must hold. Asking again with the same invite
 * waits on the request sent before instead of sending (and using up) another.
 */
export class PendingJoins {
  private readonly joins = new Map<string, Join>();

  /** A request was sent; it takes the place of an earlier one for the same group. */
  sent(request: SentJoinRequest): void {
    this.joins.delete(request.groupHex);
    this.joins.set(request.groupHex, { request, state: { kind: "waiting" } });
    if (this.joins.size > MAX_JOINS) this.joins.delete(this.joins.keys().next().value as string);
  }

  /** The request sent to join the group with this invite that is still waiting for an answer. */
  waitingWith(groupHex: string, inviteId: Uint8Array): SentJoinRequest | undefined {
    const join = this.joins.get(groupHex);
    return join?.state.kind === "waiting" && bytesEqual(join.request.inviteId, inviteId) ? join.request : undefined;
  }

  /** Whether this agent asked to join the group with this invite (its last request for the group). */
  askedWith(groupHex: string, inviteId: Uint8Array): boolean {
    const join = this.joins.get(groupHex);
    return join !== undefined && bytesEqual(join.request.inviteId, inviteId);
  }

  /** Who must be in the group a Welcome opens, while one is expected for it. */
  expectedInviter(groupHex: string): Inviter | undefined {
    const join = this.joins.get(groupHex);
    if (join === undefined) return undefined;
    const { state } = join;
    return state.kind === "waiting" || (state.kind === "refused" && state.welcomeExpected) ? join.request.inviter : undefined;
  }

  /** The waiting request a member's refusal names (by invite and request MAC). */
  named(inviteId: Uint8Array, requestMac: Uint8Array): SentJoinRequest | undefined {
    for (const { request, state } of this.joins.values()) {
      if (state.kind === "waiting" && bytesEqual(request.inviteId, inviteId) && bytesEqual(request.requestMac, requestMac)) return request;
    }
    return undefined;
  }

  /** The join ended without joining (for now, if `welcomeExpected`: a Welcome for it is still taken). */
  refuse(groupHex: string, error: AgentError, welcomeExpected: boolean): void {
    const join = this.joins.get(groupHex);
    if (join !== undefined && join.state.kind !== "joined") join.state = { kind: "refused", error, welcomeExpected };
  }

  /** Why the join of the group ended without joining, if it did. */
  refusal(groupHex: string): AgentError | undefined {
    const state = this.joins.get(groupHex)?.state;
    return state?.kind === "refused" ? state.error : undefined;
  }

  joined(groupHex: string): void {
    const join = this.joins.get(groupHex);
    if (join !== undefined) join.state = { kind: "joined" };
  }

  /** The request was never handed to the relay client: nothing waits for it. */
  drop(groupHex: string): void {
    this.joins.delete(groupHex);
  }

  /**
   * Joins not completed: waiting for a member, or refused. `held`: whether this agent holds the
   * group now (a Welcome held back until a removal was applied joins it without passing here).
   */
  list(held: (groupHex: string) => boolean): PendingJoinView[] {
    return [...this.joins.values()].flatMap((join): PendingJoinView[] => {
      if (held(join.request.groupHex)) join.state = { kind: "joined" };
      const { request, state } = join;
      const requestedAt = new Date(request.requestedAt).toISOString();
      if (state.kind === "waiting") return [{ channel: request.channel, status: "pending", requestedAt }];
      if (state.kind === "refused") return [{ channel: request.channel, status: "refused", requestedAt, error: { code: state.error.code, message: state.error.message } }];
      return [];
    });
  }
}
