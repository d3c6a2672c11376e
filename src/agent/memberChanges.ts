import { parseCredential } from "../mls/identity.js";
import { decodeKeyPackageMessage } from "../mls/messages.js";
import type { CommitIntents } from "./commitIntents.js";
import type { Core } from "./core.js";
import type { InviteFlow } from "./inviteFlow.js";
import { AgentError, type ChannelState } from "./types.js";

/** A member adding another agent (by key package, or from the relay's directory) or removing one. */
export class MemberChanges {
  constructor(
    private readonly core: Core,
    private readonly commits: CommitIntents,
    private readonly invites: InviteFlow,
  ) {}

  async add(channel: string, who: { keyPackage: Uint8Array } | { agent: string }): Promise<ChannelState & { welcome: Uint8Array }> {
    const { mls, relay, quiet } = this.core;
    let keyPackage: Uint8Array;
    if ("agent" in who) {
      const fetched = await relay.fetchKeyPackage(who.agent);
      if (fetched === undefined) throw new AgentError("not_found", `'${who.agent}' has no key package in the relay's directory; ask it to start once, or use channel_invite`);
      keyPackage = fetched;
    } else keyPackage = who.keyPackage;
    const name = parseCredential(decodeKeyPackageMessage(keyPackage).leafNode.credential)?.name;
    if (name === undefined) throw new AgentError("bad_request", "that key package does not carry a skytale identity");
    let welcome: Uint8Array | undefined;
    const result = await this.commits.run(
      channel,
      async () => {
        const outgoing = await mls.addMembers(channel, [keyPackage]);
        welcome = outgoing.welcome;
        return outgoing;
      },
      [name],
    );
    if (welcome === undefined) throw new AgentError("internal", "the add produced no Welcome");
    void this.invites.share(channel).catch((e: unknown) => quiet(e));
    return { channel: result.channel, epoch: result.epoch, members: result.members, welcome };
  }

  async remove(channel: string, member: string): Promise<ChannelState> {
    const isGone = async () => !(await this.core.state(channel)).members.includes(member);
    const result = await this.commits.run(channel, () => this.core.mls.removeMembers(channel, [member]), [], isGone);
    return this.core.state(result.channel);
  }
}
