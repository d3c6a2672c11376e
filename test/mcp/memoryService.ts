/**
 * An in-memory ChannelService for the MCP tests, standing in for the real Agent (src/agent/agent.ts)
 * until it lands. It keeps honest state: a shared MemoryNetwork holds channels (members, epoch,
 * sequence numbers), invites, key packages and welcomes; each MemoryService is one agent with its own
 * inbox. Bad arguments and unknown channels fail with AgentError codes, as the real service does.
 * No cryptography: nothing here says anything about MLS.
 */
import { randomBytes } from "node:crypto";
import {
  AgentError,
  type ChannelService,
  type ChannelState,
  type ChannelSummary,
  type ChannelWarning,
  type ContactView,
  type JoinResult,
  type MemberView,
  type OfferView,
  type PendingJoinView,
  type ReceivedMessage,
  type ReceiveOptions,
  type RelayStatus,
  type SendResult,
} from "../../src/agent/types.js";
import { didKeyOf, safetyCodeOf } from "../../src/mls/didKey.js";

const SEGMENT = "[a-z0-9][a-z0-9._-]{0,63}";
const CHANNEL_NAME = new RegExp(`^${SEGMENT}/${SEGMENT}/${SEGMENT}$`);

interface Channel {
  epoch: bigint;
  members: string[];
  nextSeq: number;
}

interface Invite {
  readonly channel: string;
  usesLeft: number;
  readonly expiresAt: Date;
}

const key = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** What several agents share: in the real system, the relay and the MLS groups. */
export class MemoryNetwork {
  readonly channels = new Map<string, Channel>();
  readonly agents = new Map<string, MemoryService>();
  readonly invites = new Map<string, Invite>();
  /** Key package (base64url) → the agent that made it. */
  readonly keyPackages = new Map<string, string>();
  /** Welcome (base64url) → the channel and agent it admits. */
  readonly welcomes = new Map<string, { channel: string; agent: string }>();
  /** When false, joins with an invite stay "pending", as when no member is online. */
  membersOnline = true;
  relayUrl = "ws://127.0.0.1:8787";
}

export interface MemoryServiceOptions {
  /** How often receive() calls onWait while waiting (the real service: about once a second). */
  readonly waitTickMs?: number;
}

export class MemoryService implements ChannelService {
  readonly identity: { readonly name: string; readonly did: string; readonly safetyCode: string };
  private readonly contactList = new Map<string, ContactView>();
  /** Channels this agent has joined. */
  private readonly joined = new Set<string>();
  /** Joins with an invite no member answered yet: channel → when asked. */
  private readonly waiting = new Map<string, string>();
  private readonly inbox: ReceivedMessage[] = [];
  private readonly listeners = new Set<(channel: string) => void>();
  private readonly wakers = new Set<() => void>();
  private readonly waitTickMs: number;
  /** Thrown by the next call, to test how unexpected failures surface. */
  nextFailure: unknown;
  /** Why the relay is not connected, as the real service reports it (undefined: connected). */
  relayProblem: RelayStatus["problem"];
  /** receive() calls currently waiting. */
  activeWaits = 0;
  /** Returned (once) by the next receive() that answers at once, as the real service reports relay misbehaviour. */
  readonly warnings: ChannelWarning[] = [];
  closed = 0;

  constructor(
    name: string,
    private readonly network: MemoryNetwork,
    options: MemoryServiceOptions = {},
  ) {
    const key = new Uint8Array(randomBytes(32));
    this.identity = { name, did: didKeyOf(key), safetyCode: safetyCodeOf(key) };
    this.waitTickMs = options.waitTickMs ?? 1000;
    network.agents.set(name, this);
  }

  relayStatus(): RelayStatus {
    const problem = this.relayProblem;
    return problem === undefined ? { url: this.network.relayUrl, connected: true } : { url: this.network.relayUrl, connected: false, problem };
  }

  async createChannel(channel: string): Promise<ChannelState> {
    this.checkFailure();
    assertChannelName(channel);
    if (this.network.channels.has(channel)) throw new AgentError("already_exists", `channel '${channel}' exists already; join it instead`);
    this.network.channels.set(channel, { epoch: 0n, members: [this.identity.name], nextSeq: 1 });
    this.joined.add(channel);
    return this.state(channel);
  }

  async invite(channel: string, options: { maxUses: number; ttlSeconds: number }): Promise<{ invite: string; expiresAt: Date }> {
    this.checkFailure();
    this.mine(channel);
    const invite = `skinv1.${randomBytes(24).toString("base64url")}`;
    const expiresAt = new Date(Date.now() + options.ttlSeconds * 1000);
    this.network.invites.set(invite, { channel, usesLeft: options.maxUses, expiresAt });
    return { invite, expiresAt };
  }

  async joinWithInvite(invite: string): Promise<JoinResult> {
    this.checkFailure();
    const entry = this.network.invites.get(invite);
    if (!entry) throw new AgentError("invite_invalid", "this invite is unknown; ask a member for a new one");
    if (entry.expiresAt.getTime() < Date.now()) throw new AgentError("invite_expired", "this invite has expired; ask a member for a new one");
    if (this.joined.has(entry.channel)) throw new AgentError("already_exists", `already a member of '${entry.channel}'`);
    if (!this.network.membersOnline) {
      this.waiting.set(entry.channel, new Date().toISOString());
      return { status: "pending", channel: entry.channel, note: `no member of '${entry.channel}' answered: none seems to be online` };
    }
    this.waiting.delete(entry.channel);
    if (entry.usesLeft <= 0) throw new AgentError("invite_used_up", `the invite to '${entry.channel}' is used up; ask a member for a new invite`);
    entry.usesLeft -= 1;
    const channel = this.channel(entry.channel);
    channel.members.push(this.identity.name);
    channel.epoch += 1n;
    this.joined.add(entry.channel);
    return { status: "joined", ...this.state(entry.channel) };
  }

  async pendingJoins(): Promise<PendingJoinView[]> {
    return [...this.waiting].map(([channel, requestedAt]) => ({ channel, status: "pending" as const, requestedAt }));
  }

  async joinWithWelcome(channel: string, welcome: Uint8Array): Promise<JoinResult> {
    this.checkFailure();
    assertChannelName(channel);
    const entry = this.network.welcomes.get(key(welcome));
    if (!entry || entry.agent !== this.identity.name) throw new AgentError("bad_request", "this welcome is not for this agent");
    if (entry.channel !== channel) throw new AgentError("bad_request", `this welcome opens '${entry.channel}', not '${channel}'`);
    this.network.welcomes.delete(key(welcome));
    this.joined.add(channel);
    return { status: "joined", ...this.state(channel) };
  }

  async keyPackage(): Promise<Uint8Array> {
    this.checkFailure();
    const bytes = new Uint8Array(randomBytes(300));
    this.network.keyPackages.set(key(bytes), this.identity.name);
    return bytes;
  }

  async addMember(channel: string, who: { keyPackage: Uint8Array } | { agent: string }): Promise<ChannelState & { welcome: Uint8Array }> {
    this.checkFailure();
    const state = this.mine(channel);
    let agent: string;
    if ("keyPackage" in who) {
      const owner = this.network.keyPackages.get(key(who.keyPackage));
      if (owner === undefined) throw new AgentError("bad_request", "this key package is malformed or was used already; ask for a fresh one");
      this.network.keyPackages.delete(key(who.keyPackage));
      agent = owner;
    } else {
      if (!this.network.agents.has(who.agent)) throw new AgentError("not_found", `no key package for agent '${who.agent}' in the directory`);
      agent = who.agent;
    }
    if (state.members.includes(agent)) throw new AgentError("already_exists", `'${agent}' is already a member of '${channel}'`);
    state.members.push(agent);
    state.epoch += 1n;
    const welcome = new Uint8Array(randomBytes(500));
    this.network.welcomes.set(key(welcome), { channel, agent });
    return { ...this.state(channel), welcome };
  }

  async send(channel: string, message: string): Promise<SendResult> {
    this.checkFailure();
    const state = this.mine(channel);
    const seq = state.nextSeq++;
    const now = new Date().toISOString();
    for (const member of state.members) {
      if (member === this.identity.name) continue;
      this.network.agents.get(member)?.deliver({
        channel,
        sender: this.identity.name,
        senderDid: this.identity.did,
        trust: "unknown",
        message,
        seq,
        sentAt: now,
        receivedAt: now,
      });
    }
    return { status: "sent", channel, seq, epoch: state.epoch };
  }

  async receive(options: ReceiveOptions): Promise<{ messages: ReceivedMessage[]; timedOut: boolean; warnings?: ChannelWarning[] }> {
    this.checkFailure();
    if (options.channel !== undefined) this.mine(options.channel);
    const take = () => {
      const taken: ReceivedMessage[] = [];
      for (let i = 0; i < this.inbox.length && taken.length < (options.maxMessages ?? Infinity); ) {
        const message = this.inbox[i] as ReceivedMessage;
        if (options.channel === undefined || message.channel === options.channel) {
          taken.push(message);
          this.inbox.splice(i, 1);
        } else {
          i++;
        }
      }
      return taken;
    };
    const ready = take();
    const waitMs = options.waitMs ?? 0;
    const warnings = this.warnings.splice(0);
    if (warnings.length > 0) return { messages: ready, timedOut: false, warnings };
    if (ready.length > 0 || waitMs === 0) return { messages: ready, timedOut: false };
    options.signal?.throwIfAborted();

    this.activeWaits++;
    const started = Date.now();
    try {
      for (;;) {
        const waited = Date.now() - started;
        if (waited >= waitMs) return { messages: [], timedOut: true };
        await new Promise<void>((resolve, reject) => {
          const done = () => {
            clearTimeout(timer);
            this.wakers.delete(done);
            options.signal?.removeEventListener("abort", aborted);
          };
          const aborted = () => {
            done();
            reject(options.signal?.reason);
          };
          const timer = setTimeout(() => {
            done();
            resolve();
          }, Math.min(this.waitTickMs, waitMs - waited));
          const woken = () => {
            done();
            resolve();
          };
          this.wakers.add(woken);
          options.signal?.addEventListener("abort", aborted, { once: true });
        });
        const messages = take();
        if (messages.length > 0) return { messages, timedOut: false };
        options.onWait?.(Date.now() - started);
      }
    } finally {
      this.activeWaits--;
    }
  }

  async channels(): Promise<ChannelSummary[]> {
    this.checkFailure();
    return [...this.joined].map((channel) => ({ ...this.state(channel), name: channel, creator: undefined, unread: this.inbox.filter((m) => m.channel === channel).length }));
  }

  async members(channel: string): Promise<{ channel: string; epoch: bigint; members: MemberView[] }> {
    this.checkFailure();
    const state = this.mine(channel);
    const members = state.members.map((identity) => {
      const agent = this.network.agents.get(identity)?.identity;
      return { identity, did: agent?.did ?? "", safetyCode: agent?.safetyCode ?? "", trust: this.contactList.has(identity) ? ("verified" as const) : ("unknown" as const) };
    });
    return { channel, epoch: state.epoch, members };
  }

  async leave(channel: string): Promise<{ channel: string; status: "left" | "leave_requested" }> {
    this.checkFailure();
    const state = this.mine(channel);
    state.members = state.members.filter((m) => m !== this.identity.name);
    state.epoch += 1n;
    this.joined.delete(channel);
    return { channel, status: "left" };
  }

  async removeMember(channel: string, member: string): Promise<ChannelState> {
    this.checkFailure();
    const state = this.mine(channel);
    if (member === this.identity.name) throw new AgentError("bad_request", "to remove yourself, use channel_leave");
    if (!state.members.includes(member)) throw new AgentError("not_found", `'${member}' is not a member of '${channel}'`);
    state.members = state.members.filter((m) => m !== member);
    state.epoch += 1n;
    this.network.agents.get(member)?.joined.delete(channel);
    return this.state(channel);
  }

  async rotateKeys(channel: string): Promise<ChannelState> {
    this.checkFailure();
    const state = this.mine(channel);
    state.epoch += 1n;
    return this.state(channel);
  }

  async contacts(): Promise<ContactView[]> {
    this.checkFailure();
    return [...this.contactList.values()];
  }

  async addContact(name: string, proof: { did: string } | { safetyCode: string }): Promise<ContactView> {
    this.checkFailure();
    const agent = this.network.agents.get(name)?.identity;
    const matches = agent !== undefined && ("did" in proof ? agent.did === proof.did : agent.safetyCode === proof.safetyCode);
    if (!matches) throw new AgentError("identity_mismatch", `that is not the key of '${name}'`);
    const contact = { name, did: agent.did, safetyCode: agent.safetyCode, verified: true, source: "explicit" };
    this.contactList.set(name, contact);
    return contact;
  }

  async removeContact(name: string): Promise<{ name: string; removed: boolean }> {
    this.checkFailure();
    return { name, removed: this.contactList.delete(name) };
  }

  async offers(): Promise<OfferView[]> {
    this.checkFailure();
    return [];
  }

  async answerOffer(offer: string): Promise<JoinResult> {
    this.checkFailure();
    throw new AgentError("not_found", `no offer '${offer}'`);
  }

  onMessage(listener: (channel: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Listeners currently registered with onMessage. */
  get listenerCount(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.closed++;
  }

  private deliver(message: ReceivedMessage): void {
    if (!this.joined.has(message.channel)) return;
    this.inbox.push(message);
    for (const listener of this.listeners) listener(message.channel);
    for (const wake of [...this.wakers]) wake();
  }

  private checkFailure(): void {
    const failure = this.nextFailure;
    if (failure === undefined) return;
    this.nextFailure = undefined;
    throw failure;
  }

  private channel(name: string): Channel {
    const state = this.network.channels.get(name);
    if (!state) throw new AgentError("not_found", `no channel '${name}' on this agent; create it or join it first`);
    return state;
  }

  /** A channel this agent is in, or the error the real service gives. */
  private mine(name: string): Channel {
    assertChannelName(name);
    if (!this.joined.has(name)) throw new AgentError("not_found", `no channel '${name}' on this agent; create it or join it first`);
    return this.channel(name);
  }

  private state(name: string): ChannelState {
    const { epoch, members } = this.channel(name);
    return { channel: name, epoch, members: [...members] };
  }
}

function assertChannelName(name: string): void {
  if (!CHANNEL_NAME.test(name)) {
    throw new AgentError("bad_request", "channel names are org/namespace/service: three lowercase parts of letters, digits, '.', '_' or '-'");
  }
}
