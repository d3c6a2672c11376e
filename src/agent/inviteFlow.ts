import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { bytesEqual, parseCredential } from "../mls/identity.js";
import { decodeKeyPackageMessage } from "../mls/messages.js";
import type { StoredInvite } from "../store/agentStore.js";
import { RELAY_KEY_PIN_FILE, RelayKeyPins } from "../transport/relayKeyPin.js";
import { relayBase } from "../transport/relayUrl.js";
import type { CommitIntents } from "./commitIntents.js";
import type { Contacts } from "./contacts.js";
import { hex, type Core } from "./core.js";
import { decodeInvite, decodeJoinRequest, encodeInvite, encodeJoinRequest, joinMac, macMatches } from "./invites.js";
import { encodeControl, type InviteNotice } from "./messageCodec.js";
import { withTimeout } from "./relayAnswers.js";
import { AgentError, type JoinResult } from "./types.js";
import type { WelcomeJoins } from "./welcomeJoins.js";

/**
 * Invites: a token whose details every member learns through an encrypted control message, so
 * that any member that is online admits a joiner, and the joiner's side (a JoinRequest carrying
 * a fresh key package and a MAC under the invite's secret). The token names its inviter, whom
 * the joiner expects to find in the group it is admitted to (welcomeJoins.ts) and pins; members
 * admit only a key package of the key the relay authenticated as the request's sender. Invites
 * live in the store.
 */
export class InviteFlow {
  constructor(
    private readonly core: Core,
    private readonly commits: CommitIntents,
    private readonly joins: WelcomeJoins,
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
    const relayKey = config.relayKey ?? this.pins().get(relayBase(this.relayUrl));
    if (relayKey === undefined) throw new AgentError("relay_unreachable", "the relay's key is not known yet (never connected); try again once connected");
    const id = new Uint8Array(randomBytes(16));
    const secret = new Uint8Array(randomBytes(32));
    const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
    const invite = { id, channel, secret, expiresAt, maxUses };
    await withTimeout(relay.sendMessage(await this.encryptControl(channel, inviteNotice(invite, 0))), sendTimeoutMs, "the invite is queued for the other members");
    store.saveInvite(invite);
    const inviter = { name: config.name, key: mls.identity.signaturePublicKey };
    const token = encodeInvite({ channel: info.name, groupId: info.groupId, relayUrl: relayBase(this.relayUrl), relayKey, inviter, creator: info.creator?.key, id, secret, expiresAt });
    return { invite: token, expiresAt: new Date(expiresAt * 1000) };
  }

  /** Sends a join request with the invite; "pending" when no member admitted us within `waitMs`. */
  async joinWithInvite(token: string, waitMs: number): Promise<JoinResult> {
    const { mls, relay, config, progress, channels, sendTimeoutMs } = this.core;
    const invite = decodeInvite(token);
    const groupHex = hex(invite.groupId);
    if (invite.expiresAt < Math.floor(Date.now() / 1000)) throw new AgentError("invite_invalid", "this invite has expired; ask a member for a new one");
    if (invite.relayUrl !== relayBase(this.relayUrl)) {
      throw new AgentError("invite_invalid", `this invite is for the relay ${invite.relayUrl}, but this agent uses ${relayBase(this.relayUrl)}; set SKYTALE_RELAY to it`);
    }
    const held = channels.channelOf(groupHex);
    if (held !== undefined) throw new AgentError("already_exists", `already a member of '${held}'`);
    this.contacts.assertNotConflicting(invite.inviter.name, invite.inviter.key, "the inviter");
    if (config.relayKey === undefined) this.pins().record(invite.relayUrl, invite.relayKey);
    this.joins.expect(invite.groupId, { ...invite.inviter, creator: invite.creator });
    const keyPackage = await mls.createKeyPackage();
    const mac = joinMac(invite.secret, invite.id, keyPackage, config.name);
    const payload = encodeJoinRequest({ inviteId: invite.id, agent: config.name, keyPackage, mac });
    await withTimeout(relay.forward("JoinRequest", { kind: "channel", channel: invite.groupId }, payload), sendTimeoutMs, "the join request is queued for the relay");
    try {
      await progress.until(() => channels.channelOf(groupHex) !== undefined || this.joins.refusal(groupHex) !== undefined, waitMs, "");
    } catch {
      return { status: "pending" as const, channel: invite.channel };
    }
    const refused = this.joins.refusal(groupHex);
    if (refused !== undefined) throw refused;
    return { status: "joined" as const, ...(await this.core.state(channels.channelOf(groupHex) as string)) };
  }

  /**
   * Every member sees a join request at the same place in the channel's order, so every member
   * counts the invite's uses alike; each tries to commit the Add and the relay lets one win.
   */
  considerJoinRequest(channel: string, payload: Uint8Array, from: Uint8Array): void {
    const { mls, store, log, quiet } = this.core;
    const request = decodeJoinRequest(payload);
    if (request === undefined) return;
    const invite = store.loadInvite(request.inviteId);
    if (invite === undefined || invite.channel !== channel) return;
    if (invite.expiresAt < Math.floor(Date.now() / 1000)) return log(`join request for an expired invite on ${channel}`);
    if (!macMatches(joinMac(invite.secret, request.inviteId, request.keyPackage, request.agent), request.mac)) {
      return log(`join request with a bad MAC on ${channel}`);
    }
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
    if (!store.useInvite(request.inviteId)) return log(`join request for a used-up invite on ${channel}`);
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
    for (const invite of this.core.store.activeInvites(channel, Math.floor(Date.now() / 1000))) {
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

  private pins(): RelayKeyPins {
    return new RelayKeyPins(join(this.core.store.dir, RELAY_KEY_PIN_FILE));
  }
}

function inviteNotice(invite: StoredInvite, uses: number): Uint8Array {
  return encodeControl({ t: "invite", id: hex(invite.id), secret: Buffer.from(invite.secret).toString("base64url"), expiresAt: invite.expiresAt, maxUses: invite.maxUses, uses });
}
