import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { bytesEqual, parseCredential } from "../mls/identity.js";
import { decodeKeyPackageMessage } from "../mls/messages.js";
import type { StoredInvite } from "../store/agentStore.js";
import { RELAY_KEY_PIN_FILE, RelayKeyPins } from "../transport/relayKeyPin.js";
import { relayBases, sameRelay } from "../transport/relayEndpoints.js";
import type { CommitIntents } from "./commitIntents.js";
import type { Contacts } from "./contacts.js";
import { hex, type Core } from "./core.js";
import {
  decodeInvite,
  decodeJoinReply,
  decodeJoinRequest,
  encodeInvite,
  encodeJoinReply,
  encodeJoinRequest,
  joinMac,
  joinReplyMac,
  macMatches,
  type InviteToken,
  type JoinRefusal,
} from "./invites.js";
import { encodeControl, type InviteNotice } from "./messageCodec.js";
import type { PendingJoins } from "./pendingJoins.js";
import { isQueued, withTimeout } from "./relayAnswers.js";
import { AgentError, type JoinResult, type PendingJoinView } from "./types.js";

/**
 * Invites: a token whose details every member learns through an encrypted control message, so
 * that any member that is online admits a joiner or tells it why not, and the joiner's side (a
 * JoinRequest carrying a fresh key package and a MAC under the invite's secret, kept in
 * PendingJoins until it is answered). The token names its inviter, whom the joiner expects to
 * find in the group it is admitted to (welcomeJoins.ts) and pins; members admit only a key
 * package of the key the relay authenticated as the request's sender. Invites live in the store.
 */
export class InviteFlow {
  constructor(
    private readonly core: Core,
    private readonly commits: CommitIntents,
    private readonly pending: PendingJoins,
    private readonly contacts: Contacts,
    /** The relay this agent uses (invites name it). */
    private readonly relayUrl: string,
  ) {}

  async invite(channel: string, options: { maxUses: number; ttlSeconds: number }): Promise<{ invite: string; expiresAt: Date }> {
    const { mls, relay, store, config, sendTimeoutMs } = this.core;
    const { maxUses, ttlSeconds } = options;
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 1000) throw new AgentError("bad_request", "max_uses must be 1-1000");
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > 30 * 24 * 3600) throw new AgentError("bad_request", "ttl_seconds must be 60 s to 30 days");
    const info = await mls.channelInfo(channel);
    const relayKey = config.relayKey ?? relayBases(this.relayUrl).map((base) => this.pins().get(base)).find((key) => key !== undefined);
    if (relayKey === undefined) throw new AgentError("relay_unreachable", "the relay's key is not known yet (never connected); try again once connected");
    const id = new Uint8Array(randomBytes(16));
    const secret = new Uint8Array(randomBytes(32));
    const expiresAt = this.nowSeconds() + ttlSeconds;
    const invite = { id, channel, secret, expiresAt, maxUses };
    await withTimeout(relay.sendMessage(await this.encryptControl(channel, inviteNotice(invite, 0))), sendTimeoutMs, "the invite is queued for the other members");
    store.saveInvite(invite);
    const inviter = { name: config.name, key: mls.identity.signaturePublicKey };
    const token = encodeInvite({ channel: info.name, groupId: info.groupId, relayUrl: relayBases(this.relayUrl).join(","), relayKey, inviter, creator: info.creator?.key, id, secret, expiresAt });
    return { invite: token, expiresAt: new Date(expiresAt * 1000) };
  }

  /**
   * Joins with an invite: sends a join request, or waits on the one sent with it before, until a
   * member admits this agent (joined), refuses (an error: used up, expired, revoked), or `waitMs`
   * passes (pending, saying that no member answered).
   */
  async joinWithInvite(token: string, waitMs: number): Promise<JoinResult> {
    const { channels, progress } = this.core;
    const invite = decodeInvite(token);
    const groupHex = hex(invite.groupId);
    if (invite.expiresAt < this.nowSeconds()) throw new AgentError("invite_expired", "this invite has expired; ask a member for a new one");
    if (!sameRelay(invite.relayUrl, this.relayUrl)) {
      throw new AgentError("invite_invalid", `this invite is for the relay ${invite.relayUrl}, but this agent uses ${this.relayUrl}; set SKYTALE_RELAY to it`);
    }
    const held = channels.channelOf(groupHex);
    if (held !== undefined) {
      if (this.pending.askedWith(groupHex, invite.id)) return { status: "joined" as const, ...(await this.core.state(held)) };
      throw new AgentError("already_exists", `already a member of '${held}'`);
    }
    if (this.pending.waitingWith(groupHex, invite.id) === undefined) {
      const queued = await this.sendJoinRequest(invite);
      if (queued !== undefined) return { status: "pending" as const, channel: invite.channel, note: queued };
    }
    try {
      await progress.until(() => channels.channelOf(groupHex) !== undefined || this.pending.refusal(groupHex) !== undefined, waitMs, "");
    } catch {
      const note =
        `no member of '${invite.channel}' answered within ${waitMs / 1000} s: none seems to be online (any member can admit this agent, or tell it why not). ` +
        "The request waits at the relay: the join completes, or is refused, when a member comes online. Asking again with the same invite checks on it without sending another request.";
      return { status: "pending" as const, channel: invite.channel, note };
    }
    const joined = channels.channelOf(groupHex);
    if (joined !== undefined) return { status: "joined" as const, ...(await this.core.state(joined)) };
    throw this.pending.refusal(groupHex) as AgentError;
  }

  /** Joins asked for with an invite that have not completed. */
  pendingJoins(): PendingJoinView[] {
    return this.pending.list((groupHex) => this.core.channels.channelOf(groupHex) !== undefined);
  }

  /**
   * A member's refusal of a join request of ours, from the inbox. It counts only with a MAC under
   * the invite's secret (the relay, or anyone without the invite, cannot make one) and only for
   * the request still waiting; it ends that wait, but a Welcome for it is still taken.
   */
  answered(payload: Uint8Array): void {
    const reply = decodeJoinReply(payload);
    if (reply === undefined) return;
    const request = this.pending.named(reply.inviteId, reply.requestMac);
    if (request === undefined) return;
    if (!macMatches(joinReplyMac(request.secret, reply.inviteId, reply.requestMac, reply.reason), reply.mac)) {
      return this.core.log(`ignored a refusal of a join of ${request.channel} that does not carry the invite's MAC`);
    }
    this.pending.refuse(request.groupHex, refusalError(reply.reason, request.channel), true);
    this.core.progress.wake();
  }

  /**
   * Sends a join request for `invite` (a fresh key package, a MAC under its secret); returns why
   * it waits when the relay did not take it in time (it stays queued and goes out later).
   */
  private async sendJoinRequest(invite: InviteToken): Promise<string | undefined> {
    const { mls, relay, config, sendTimeoutMs } = this.core;
    this.contacts.assertNotConflicting(invite.inviter.name, invite.inviter.key, "the inviter");
    if (config.relayKey === undefined) for (const base of relayBases(invite.relayUrl)) this.pins().record(base, invite.relayKey);
    const keyPackage = await mls.createKeyPackage();
    const mac = joinMac(invite.secret, invite.id, keyPackage, config.name);
    const groupHex = hex(invite.groupId);
    // Recorded first: a member online may answer before the relay's ack is read.
    this.pending.sent({
      channel: invite.channel,
      groupHex,
      inviter: { ...invite.inviter, creator: invite.creator },
      inviteId: invite.id,
      secret: invite.secret,
      requestMac: mac,
      requestedAt: this.now(),
    });
    const payload = encodeJoinRequest({ inviteId: invite.id, agent: config.name, keyPackage, mac });
    try {
      await withTimeout(relay.forward("JoinRequest", { kind: "channel", channel: invite.groupId }, payload), sendTimeoutMs, "the join request is stored and queued; it goes out when the relay is reachable");
      return undefined;
    } catch (error) {
      if (isQueued(error)) return `${(error as Error).message}. Asking again with the same invite checks on it without sending another request.`;
      this.pending.drop(groupHex);
      throw error;
    }
  }

  /**
   * Every member sees a join request at the same place in the channel's order, so every member
   * counts the invite's uses alike; each tries to commit the Add and the relay lets one win. A
   * request for an invite that is expired, revoked or used up is refused to its sender (the
   * identity key the relay authenticated), under the invite's MAC, by every member that sees it;
   * one that does not prove it holds the invite gets no answer.
   */
  considerJoinRequest(channel: string, payload: Uint8Array, from: Uint8Array): void {
    const { mls, store, log, quiet } = this.core;
    const request = decodeJoinRequest(payload);
    if (request === undefined) return;
    const invite = store.loadInvite(request.inviteId);
    if (invite === undefined || invite.channel !== channel) return;
    if (!macMatches(joinMac(invite.secret, request.inviteId, request.keyPackage, request.agent), request.mac)) {
      return log(`join request with a bad MAC on ${channel}`);
    }
    const refuse = (reason: JoinRefusal) => {
      log(`refused a join request on ${channel}: the invite is ${reason.replace("_", " ")}`);
      const reply = encodeJoinReply(invite.secret, { inviteId: request.inviteId, requestMac: request.mac, reason });
      void this.core.relay.forward("JoinReply", { kind: "agent", key: from }, reply).catch((e: unknown) => quiet(e));
    };
    if (invite.revoked) return refuse("revoked");
    if (invite.expiresAt < this.nowSeconds()) return refuse("expired");
    // The key package must be the requester's own: of the key the relay authenticated as its
    // sender, under the name in the request, or someone else would be pulled in.
    let credential: ReturnType<typeof parseCredential>;
    try {
      credential = parseCredential(decodeKeyPackageMessage(request.keyPackage).leafNode.credential);
    } catch {
      return log(`join request with a malformed key package on ${channel}`);
    }
    if (credential === undefined || credential.name !== request.agent || !bytesEqual(credential.signaturePublicKey, from)) {
      return log(`join request on ${channel} whose key package is not its sender's`);
    }
    const key = credential.signaturePublicKey;
    if (!this.contacts.learn(credential.name, key, "invite", channel)) return log(`join request on ${channel} from a key that is not the one pinned for '${credential.name}'`);
    if (!store.useInvite(request.inviteId)) return refuse("used_up");
    const isMember = async () => (await mls.channelInfo(channel)).members.some((m) => bytesEqual(m.signaturePublicKey, key));
    void this.commits
      .run(channel, () => mls.addMembers(channel, [request.keyPackage]), [key], isMember)
      .then((r) => (r.committed ? this.share(channel) : undefined))
      .catch((e: unknown) => quiet(e));
  }

  /**
   * New members cannot read notices sent before they joined: the member whose commit added them
   * tells them the invites still open, with the uses counted so far.
   */
  async share(channel: string): Promise<void> {
    for (const invite of this.core.store.activeInvites(channel, this.nowSeconds())) {
      await this.core.relay.sendMessage(await this.encryptControl(channel, inviteNotice(invite, invite.uses)));
    }
  }

  /** A member's notice of an invite (read from a control message). */
  remember(channel: string, notice: InviteNotice): void {
    const id = new Uint8Array(Buffer.from(notice.id, "hex"));
    const secret = new Uint8Array(Buffer.from(notice.secret, "base64url"));
    if (id.length !== 16 || secret.length !== 32 || !Number.isInteger(notice.uses) || notice.uses < 0) return;
    this.core.store.saveInvite({ id, channel, secret, expiresAt: notice.expiresAt, maxUses: notice.maxUses }, notice.uses);
  }

  /** A control message, encrypted like text (committing pending proposals first if needed). */
  private async encryptControl(channel: string, notice: Uint8Array): Promise<Uint8Array> {
    const { mls } = this.core;
    if ((await mls.channelInfo(channel)).pendingProposals > 0) await this.commits.commitPending(channel);
    return mls.encrypt(channel, notice);
  }

  /** The wall clock (ms); the members' clock decides whether an invite has expired. */
  private now(): number {
    return this.core.config.clock?.() ?? Date.now();
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private pins(): RelayKeyPins {
    return new RelayKeyPins(join(this.core.store.dir, RELAY_KEY_PIN_FILE));
  }
}

/** What the joiner is told when a member refused its request. */
function refusalError(reason: JoinRefusal, channel: string): AgentError {
  switch (reason) {
    case "used_up":
      return new AgentError("invite_used_up", `the invite to '${channel}' is used up: it admitted as many agents as it allows (a member refused the join); ask a member for a new invite`);
    case "expired":
      return new AgentError("invite_expired", `the invite to '${channel}' has expired by the members' clock (a member refused the join); ask a member for a new invite`);
    case "revoked":
      return new AgentError("invite_revoked", `the invite to '${channel}' was revoked: a member was removed from the channel since it was made, which revokes its open invites (a member refused the join); ask a member for a new invite`);
  }
}

function inviteNotice(invite: StoredInvite, uses: number): Uint8Array {
  return encodeControl({ t: "invite", id: hex(invite.id), secret: Buffer.from(invite.secret).toString("base64url"), expiresAt: invite.expiresAt, maxUses: invite.maxUses, uses });
}
