import { didKeyOf } from "../mls/didKey.js";
import { bytesEqual, parseCredential } from "../mls/identity.js";
import { decodeKeyPackageMessage } from "../mls/messages.js";
import type { CommitIntents } from "./commitIntents.js";
import type { Contacts } from "./contacts.js";
import type { Core } from "./core.js";
import type { InviteFlow } from "./inviteFlow.js";
import { AgentError, type ChannelState } from "./types.js";

/**
 * A member adding another agent or removing one. An agent is added by its key: a did:key, the
 * key pinned for a contact's name, or a key package handed over by a person. A key package the
 * relay's directory returns must carry exactly that key (a relay that answers with one of its
 * own is caught here, before anything is encrypted to it).
 */
export class MemberChanges {
  constructor(
    private readonly core: Core,
    private readonly commits: CommitIntents,
    private readonly invites: InviteFlow,
    private readonly contacts: Contacts,
  ) {}

  async add(channel: string, who: { keyPackage: Uint8Array } | { agent: string }): Promise<ChannelState & { welcome: Uint8Array }> {
    const { mls, relay, quiet } = this.core;
    await mls.channelInfo(channel);
    let keyPackage: Uint8Array;
    let wanted: { key: Uint8Array; name: string | undefined } | undefined;
    if ("agent" in who) {
      wanted = this.contacts.resolve(who.agent);
      const fetched = await relay.fetchKeyPackage(wanted.key);
      if (fetched === undefined) throw new AgentError("not_found", `'${who.agent}' has no key package in the relay's directory; ask it to start once, or use channel_invite`);
      keyPackage = fetched;
    } else keyPackage = who.keyPackage;
    const credential = parseCredential(decodeKeyPackageMessage(keyPackage).leafNode.credential);
    if (credential === undefined) throw new AgentError("bad_request", "that key package does not carry a skytale identity");
    const { name, signaturePublicKey: key } = credential;
    if (wanted !== undefined && !bytesEqual(key, wanted.key)) {
      throw new AgentError(
        "identity_mismatch",
        `the relay answered with a key package of another key (${didKeyOf(key)}, calling itself '${name}'), not of ${didKeyOf(wanted.key)}: the relay may be hostile; nothing was added`,
      );
    }
    if (wanted?.name !== undefined && name !== wanted.name) {
      throw new AgentError("identity_mismatch", `the key pinned for '${wanted.name}' now calls itself '${name}'; nothing was added`);
    }
    this.contacts.assertNotConflicting(name, key, "this key package");
    let welcome: Uint8Array | undefined;
    const result = await this.commits.run(
      channel,
      async () => {
        const outgoing = await mls.addMembers(channel, [keyPackage]);
        welcome = outgoing.welcome;
        return outgoing;
      },
      [key],
    );
    if (welcome === undefined) throw new AgentError("internal", "the add produced no Welcome");
    // Added by did:key a person gave: verified; from a key package handed over: learned.
    this.contacts.learn(name, key, wanted !== undefined && wanted.name === undefined ? "explicit" : "key_package", channel);
    void this.invites.share(channel).catch((e: unknown) => quiet(e));
    return { channel: result.channel, epoch: result.epoch, members: result.members, welcome };
  }

  /**
   * Removes a member. Someone who is not a member is not_found: answering with the member list
   * would read as done. A member removed meanwhile by someone else's commit is done all the same.
   */
  async remove(channel: string, member: string): Promise<ChannelState> {
    if (!(await this.core.state(channel)).members.includes(member)) {
      throw new AgentError("not_found", `'${member}' is not a member of '${channel}'; channel_members lists its members`);
    }
    const isGone = async () => !(await this.core.state(channel)).members.includes(member);
    const result = await this.commits.run(channel, () => this.core.mls.removeMembers(channel, [member]), [], isGone);
    return this.core.state(result.channel);
  }
}
