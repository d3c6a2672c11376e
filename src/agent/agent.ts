import { join } from "node:path";
import { assertAgentName, type MemberIdentity } from "../mls/identity.js";
import { MlsAgent, type ReceiveOutcome } from "../mls/mlsAgent.js";
import { MAX_PAYLOAD_BYTES } from "../mls/receiving.js";
import { AgentStore } from "../store/agentStore.js";
import { resolveDataDir } from "../store/dataDir.js";
import { TransportError } from "../transport/errors.js";
import { RelayClient } from "../transport/relayClient.js";
import { RELAY_KEY_PIN_FILE } from "../transport/relayKeyPin.js";
import { DEFAULT_COVER } from "../wire/cover.js";
import { ChannelRegistry } from "./channelRegistry.js";
import { ChannelWarnings } from "./channelWarnings.js";
import { CommitIntents } from "./commitIntents.js";
import type { AgentConfig } from "./config.js";
import { Contacts } from "./contacts.js";
import { stateOf, type Core } from "./core.js";
import { guarded } from "./errors.js";
import { InboxReader } from "./inboxReader.js";
import { InviteFlow } from "./inviteFlow.js";
import { KeyPackageSupply } from "./keyPackageSupply.js";
import { Leaving } from "./leaving.js";
import { LOCAL_RELAY_URL, LocalRelayHost } from "./localRelay.js";
import { MemberChanges } from "./memberChanges.js";
import { decodeControl, isUserText, MAX_TEXT_BYTES } from "./messageCodec.js";
import { Offers } from "./offers.js";
import { OutboundSends } from "./outboundSends.js";
import { PendingJoins } from "./pendingJoins.js";
import { Progress } from "./progress.js";
import { relayStatusOf } from "./relayStatus.js";
import { nextInboxSeq, RelayStream } from "./relayStream.js";
import { watchingRemovals } from "./removalWatch.js";
import { Rotation } from "./rotation.js";
import type {
  ChannelService,
  ChannelState,
  ChannelSummary,
  ChannelWarning,
  ContactView,
  JoinResult,
  MemberView,
  OfferView,
  PendingJoinView,
  ReceiveOptions,
  ReceivedMessage,
  RelayStatus,
  SendResult,
} from "./types.js";
import { WelcomeJoins } from "./welcomeJoins.js";

export type { AgentConfig } from "./config.js";

const DEFAULT_SEND_TIMEOUT_MS = 20_000;

/**
 * The channel manager: one per agent identity, and the facade (ChannelService) the MCP layer
 * uses. It owns the store, the MLS engine and the relay link, and wires the parts that own the
 * rest: the relay stream applied in order (relayStream.ts), sends (outboundSends.ts, with
 * queuedTexts.ts), commits that follow the relay's verdict (commitIntents.ts), joins by Welcome
 * (welcomeJoins.ts, heldWelcomes.ts), offers, contacts (who a name is), invites (inviteFlow.ts),
 * member changes, leaving, rotation, and the inbox `receive` reads (inboxReader.ts).
 * docs/architecture.md has the map.
 */
export class Agent implements ChannelService {
  private readonly core: Core;
  private readonly stream: RelayStream;
  private readonly commits: CommitIntents;
  private readonly joins: WelcomeJoins;
  private readonly invites: InviteFlow;
  private readonly memberChanges: MemberChanges;
  private readonly leaving: Leaving;
  private readonly rotation: Rotation;
  private readonly sends: OutboundSends;
  private readonly inbox: InboxReader;
  private readonly keyPackages: KeyPackageSupply;
  private readonly contactBook: Contacts;
  private readonly offerList: Offers;

  private constructor(
    config: AgentConfig,
    store: AgentStore,
    private readonly mls: MlsAgent,
    private readonly relay: RelayClient,
    channels: ChannelRegistry,
    private readonly relayUrl: string,
    private readonly localRelay: LocalRelayHost | undefined,
    log: (line: string) => void,
  ) {
    this.core = {
      config,
      mls,
      store,
      relay,
      channels,
      progress: new Progress(),
      warnings: new ChannelWarnings(log),
      sendTimeoutMs: config.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
      log,
      quiet: (error) => log(`background step failed: ${(error as { code?: string }).code ?? "internal"}: ${(error as Error).message}`),
      state: async (channel) => stateOf(channel, await mls.channelInfo(channel)),
    };
    channels.whenRefused((channel, why) =>
      this.core.warnings.warn(
        channel,
        "channel_not_delivered",
        `${why}; nothing sent on this channel will reach this agent: leave channels it no longer needs and restart it, or ask the relay's operator to raise its limit`,
        undefined,
      ),
    );
    const removals = watchingRemovals(this.core);
    const outcomes = (channel: string, o: ReceiveOutcome[]) => this.onOutcomes(channel, o);
    this.stream = new RelayStream(this.core, {
      outcomes,
      watchingRemovals: removals,
      forkEvidence: (channel, seq, commit) => this.joins.forkEvidence(channel, seq, commit),
      joinRequest: (channel, payload, from) => this.invites.considerJoinRequest(channel, payload, from),
      welcome: (e) => this.joins.welcome(e),
      joinReply: (payload) => this.invites.answered(payload),
    });
    this.commits = new CommitIntents(this.core, { outcomes, watchingRemovals: removals, refusedAt: (c, seq) => this.stream.refusedAt(c, seq) });
    this.keyPackages = new KeyPackageSupply(this.core);
    this.contactBook = new Contacts(this.core);
    this.offerList = new Offers(this.core, this.contactBook, (welcome, commitSeq, groupHex) => this.joins.acceptOffer(welcome, commitSeq, groupHex));
    const pendingJoins = new PendingJoins();
    this.joins = new WelcomeJoins(this.core, this.stream, this.keyPackages, this.contactBook, this.offerList, pendingJoins, (channel) => this.forgetChannel(channel));
    this.invites = new InviteFlow(this.core, this.commits, pendingJoins, this.contactBook, relayUrl);
    this.memberChanges = new MemberChanges(this.core, this.commits, this.invites, this.contactBook);
    this.leaving = new Leaving(this.core);
    this.rotation = new Rotation(this.core, this.commits, this.leaving);
    this.sends = new OutboundSends(this.core, this.commits, this.leaving, this.rotation);
    this.inbox = new InboxReader(this.core, this.rotation, this.contactBook);
  }

  /** Opens the agent's store, connects to its relay (starting the local one if needed) and resumes every channel. */
  static async open(config: AgentConfig): Promise<Agent> {
    assertAgentName(config.name); // before anything touches the file system
    const log = config.log ?? ((line: string) => process.stderr.write(`skytale: ${line}\n`));
    const dataDir = config.dataDir ?? resolveDataDir(config.name);
    const store = AgentStore.open(dataDir, { passphrase: config.passphrase });
    try {
      const mls = await MlsAgent.open({ name: config.name, port: store, keepInInbox: isUserText, observeSender: config.observeSender });
      let localRelay: LocalRelayHost | undefined;
      if (config.relayUrl === undefined) {
        localRelay = config.localRelay ?? LocalRelayHost.forAgent(config.dataDir);
        await localRelay.ensure();
      }
      const relayUrl = config.relayUrl ?? localRelay?.url ?? LOCAL_RELAY_URL;
      // The relay client asks the registry for cursors; the registry needs the client: tie the knot.
      const registry: { channels?: ChannelRegistry } = {};
      const relay = new RelayClient({
        url: relayUrl,
        agent: config.name,
        identity: { key: mls.identity.signaturePublicKey, prove: (binding) => mls.proveLink(binding) },
        token: config.token ?? "",
        ...(config.relayKey ? { relayKey: config.relayKey } : { pinFile: join(dataDir, RELAY_KEY_PIN_FILE) }),
        outbox: store.outbox(),
        cursor: (groupId) => BigInt((registry.channels?.cursorOfGroup(groupId) ?? -1) + 1),
        inboxCursor: () => nextInboxSeq(store),
        cover: config.cover ?? DEFAULT_COVER.poisson,
        ...(config.maxPendingRequests === undefined ? {} : { maxPending: config.maxPendingRequests }),
      });
      registry.channels = new ChannelRegistry(relay);
      const agent = new Agent(config, store, mls, relay, registry.channels, relayUrl, localRelay, log);
      agent.start();
      return agent;
    } catch (error) {
      store.close();
      await config.localRelay?.close().catch(() => undefined);
      throw error;
    }
  }

  get identity(): { name: string; did: string; safetyCode: string } {
    return { name: this.core.config.name, did: this.mls.did, safetyCode: this.mls.safetyCode };
  }

  relayStatus(): RelayStatus {
    return relayStatusOf(this.relayUrl, this.relay, this.localRelay);
  }

  onMessage(listener: (channel: string) => void): () => void {
    return this.inbox.onMessage(listener);
  }

  private start(): void {
    const { store, channels, log, quiet } = this.core;
    const groups = store.listGroups();
    for (const g of groups) {
      channels.restore(g.channel, g.groupId, g.cursor);
      void this.resendPendingCommit(g.channel).catch((e: unknown) => quiet(e));
    }
    this.joins.restore(groups.map((g) => g.channel));
    this.relay.on("channel", (d) => {
      if (d.envelope.type === "Msg") this.sends.seenInStream(d.envelope.body);
      this.stream.onChannel(d);
    });
    this.relay.on("inbox", (d) => this.stream.onInbox(d));
    this.relay.on("subscribed", ({ channel, lastSeq }) => this.stream.onSubscribed(channel, lastSeq));
    this.relay.on("error", (e) => log(`relay: ${e.code}: ${e.message}`));
    this.relay.on("answeredLate", ({ request, error }) => {
      if (error !== undefined) log(`relay: ${error.code}: ${error.message}`);
      if (request.type === "Msg") this.sends.answeredLate(request.body, error);
    });
    this.relay.on("state", ({ state }) => {
      // Others may have taken this agent's key packages while it was away.
      if (state === "connected") void this.keyPackages.replenish();
      // The local relay's host may have exited: whoever notices first takes over its data dir.
      if (state === "waiting" && this.localRelay !== undefined && !this.core.progress.closed) void this.localRelay.ensure().catch(() => undefined);
    });
    void this.relay.subscribeInbox(nextInboxSeq(store)).catch((e: unknown) => {
      // Invites' Welcomes come through the inbox: a refusal must be heard, not swallowed.
      if (e instanceof TransportError && e.code === "rejected") log(`the relay refused this agent's inbox: ${e.message}; Welcomes will not arrive`);
    });
    void this.relay.connect().catch((e: unknown) => {
      if (this.core.progress.closed) return; // closing ends the attempt: no news
      const fatal = e instanceof TransportError && ["auth_failed", "relay_key_mismatch", "bad_config"].includes(e.code);
      log(fatal ? `cannot use the relay: ${(e as Error).message}` : `relay not reachable yet (${(e as Error).message}); will keep trying`);
    });
  }

  /**
   * A commit built before a crash may never have reached the outbox; until the relay answers it,
   * this agent cannot commit on that channel. Sending it again is safe (the relay drops a
   * duplicate); the stream then confirms it, or the winner's commit discards it.
   */
  private async resendPendingCommit(channel: string): Promise<void> {
    const pending = await this.mls.pendingCommit(channel);
    if (pending === undefined) return;
    const welcome = pending.welcome !== undefined && pending.added.length > 0 ? { recipients: pending.added, welcome: pending.welcome } : undefined;
    await this.relay.sendCommit(pending.commit, welcome, pending.proof);
  }

  /** What processed frames did, handed to the part each outcome concerns. */
  private onOutcomes(channel: string, outcomes: ReceiveOutcome[]): void {
    for (const o of outcomes) {
      if (o.kind === "application" || o.kind === "proposal" || (o.kind === "commit" && !o.own)) this.joins.confirm(channel);
      if (o.kind === "application") {
        for (const bytes of o.oversized) this.oversized(channel, o.sender, bytes, o.seq);
        for (const payload of o.payloads) {
          const notice = decodeControl(payload);
          if (notice !== undefined) this.invites.remember(channel, notice);
          else this.inbox.arrived(channel);
        }
      } else if (o.kind === "commit" && o.removed) {
        const groupHex = this.core.channels.groupOf(channel);
        this.forgetChannel(channel);
        if (groupHex !== undefined) this.joins.rejoinHeld(groupHex, o.seq);
      } else if (o.kind === "commit") {
        this.leaving.requestAgain(channel);
      } else if (o.kind === "proposal") {
        // A member asked to leave: commit it, so the channel is not blocked (one committer wins).
        void this.commits.run(channel, () => this.mls.commitPendingProposals(channel), []).catch((e: unknown) => this.core.quiet(e));
      }
    }
    this.core.progress.wake();
  }

  /** A member's message over the bound was dropped where it was decrypted: say so, by sender, never with its text. */
  private oversized(channel: string, sender: MemberIdentity, bytes: number, seq: number | undefined): void {
    const who = `'${sender.name}' (${sender.did})`;
    this.core.log(`dropped a message of ${bytes} bytes from ${who} on ${channel}: members' messages carry at most ${MAX_PAYLOAD_BYTES} bytes`);
    this.core.warnings.warn(channel, "message_too_large", `a message of ${bytes} bytes from ${who} was dropped unread: a message carries at most ${MAX_TEXT_BYTES} bytes of text`, seq);
  }

  /** The channel's group is gone (removed, split, replaced): every part forgets it. */
  private forgetChannel(channel: string): void {
    this.leaving.forget(channel);
    this.rotation.forget(channel);
    this.stream.forget(channel);
    this.joins.forget(channel);
    this.core.channels.forget(channel);
  }

  createChannel(channel: string): Promise<ChannelState> {
    return guarded(async () => {
      const info = await this.mls.createChannel(channel);
      // The relay accepts nothing on the channel before its opening; the outbox keeps the order.
      void this.relay.openChannel(info.opening).catch((e: unknown) => this.core.quiet(e));
      this.core.channels.adopt(channel, info.groupId, -1);
      return stateOf(channel, info);
    });
  }

  keyPackage(): Promise<Uint8Array> {
    return guarded(() => this.mls.createKeyPackage());
  }

  addMember(channel: string, who: { keyPackage: Uint8Array } | { agent: string }): Promise<ChannelState & { welcome: Uint8Array }> {
    return guarded(() => this.memberChanges.add(channel, who));
  }

  removeMember(channel: string, member: string): Promise<ChannelState> {
    return guarded(() => this.memberChanges.remove(channel, member));
  }

  send(channel: string, message: string): Promise<SendResult> {
    return guarded(() => this.sends.send(channel, message));
  }

  receive(options: ReceiveOptions): Promise<{ messages: ReceivedMessage[]; timedOut: boolean; warnings?: ChannelWarning[] }> {
    return guarded(() => this.inbox.receive(options));
  }

  channels(): Promise<ChannelSummary[]> {
    return guarded(async () =>
      Promise.all(
        this.mls.channels().map(async (channel) => {
          const info = await this.mls.channelInfo(channel);
          const creator = info.creator && this.contactBook.view(info.creator.name, info.creator.key);
          return { ...stateOf(channel, info), name: info.name, creator, unread: this.core.store.countUndelivered(channel) };
        }),
      ),
    );
  }

  members(channel: string): Promise<{ channel: string; epoch: bigint; members: MemberView[] }> {
    return guarded(async () => {
      const info = await this.mls.channelInfo(channel);
      const members = info.members.map((m) => {
        const { did, safetyCode, trust } = this.contactBook.view(m.name, m.signaturePublicKey);
        return { identity: m.name, did, safetyCode, trust };
      });
      return { channel, epoch: info.epoch, members };
    });
  }

  contacts(): Promise<ContactView[]> {
    return guarded(async () => this.contactBook.list());
  }

  addContact(name: string, proof: { did: string } | { safetyCode: string }): Promise<ContactView> {
    return guarded(() => this.contactBook.add(name, proof));
  }

  removeContact(name: string): Promise<{ name: string; removed: boolean }> {
    return guarded(async () => this.contactBook.remove(name));
  }

  offers(): Promise<OfferView[]> {
    return guarded(() => this.offerList.list());
  }

  answerOffer(offer: string, accept: boolean): Promise<JoinResult | { status: "declined"; channel: string }> {
    return guarded(() => this.offerList.answer(offer, accept));
  }

  rotateKeys(channel: string): Promise<ChannelState> {
    return guarded(() => this.rotation.rotateNow(channel));
  }

  leave(channel: string): Promise<{ channel: string; status: "left" | "leave_requested" }> {
    return guarded(() => this.leaving.leave(channel));
  }

  invite(channel: string, options: { maxUses: number; ttlSeconds: number }): Promise<{ invite: string; expiresAt: Date }> {
    return guarded(() => this.invites.invite(channel, options));
  }

  joinWithInvite(token: string, waitMs = 10_000): Promise<JoinResult> {
    return guarded(() => this.invites.joinWithInvite(token, waitMs));
  }

  pendingJoins(): Promise<PendingJoinView[]> {
    return guarded(async () => this.invites.pendingJoins());
  }

  joinWithWelcome(channel: string, welcome: Uint8Array): Promise<JoinResult> {
    return guarded(() => this.joins.joinManually(channel, welcome));
  }

  async close(): Promise<void> {
    if (this.core.progress.closed) return;
    this.core.progress.close();
    await this.relay.close();
    await this.stream.settled();
    this.core.store.close();
    await this.localRelay?.close();
  }
}
