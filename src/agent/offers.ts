import { MlsError } from "../mls/errors.js";
import type { ChannelInfo, WelcomePreview } from "../mls/mlsAgent.js";
import type { Contacts } from "./contacts.js";
import { hex, stateOf, type Core } from "./core.js";
import { AgentError, type JoinResult, type OfferView } from "./types.js";

/** Offers kept at most; past it the oldest go (a flood of adds cannot fill the data dir). */
const MAX_OFFERS = 32;

/**
 * Channels other agents added this agent to without it asking, from agents that are not its
 * contacts: nobody is pulled into a channel by a name alone. Each waits, in the data dir, until
 * the agent accepts it (then it joins) or declines it.
 */
export class Offers {
  constructor(
    private readonly core: Pick<Core, "mls" | "store" | "log" | "progress">,
    private readonly contacts: Contacts,
    /** Joins with an accepted offer's Welcome (on the relay stream, in order with it). */
    private readonly accept: (welcome: Uint8Array, commitSeq: number, groupHex: string) => Promise<ChannelInfo>,
  ) {}

  /** Keeps a Welcome as an offer. */
  hold(groupId: Uint8Array, welcome: Uint8Array, commitSeq: number, preview: WelcomePreview): void {
    this.core.store.saveOffer({ groupId, welcome, commitSeq, receivedAt: Date.now() }, MAX_OFFERS);
    this.core.log(`'${preview.adder.name}' (${preview.adder.did}), not a contact, added this agent to '${preview.name}': kept as an offer to accept or decline`);
    this.core.progress.wake();
  }

  /** The offers waiting; one that can no longer be used (its key package expired or was used) is dropped. */
  async list(): Promise<OfferView[]> {
    const views: OfferView[] = [];
    for (const offer of this.core.store.offers()) {
      try {
        const preview = await this.core.mls.previewWelcome(offer.welcome);
        views.push({
          offer: hex(offer.groupId),
          channel: preview.name,
          creator: preview.creator && this.contacts.view(preview.creator.name, preview.creator.key),
          addedBy: this.contacts.view(preview.adder.name, preview.adder.signaturePublicKey),
          members: preview.members.map((m) => m.name),
          receivedAt: new Date(offer.receivedAt).toISOString(),
        });
      } catch (error) {
        if (!(error instanceof MlsError)) throw error;
        this.core.store.removeOffer(offer.groupId);
      }
    }
    return views;
  }

  async answer(offer: string, accept: boolean): Promise<JoinResult | { status: "declined"; channel: string }> {
    const stored = /^[0-9a-f]{2,64}$/.test(offer) ? this.core.store.offers().find((o) => hex(o.groupId) === offer) : undefined;
    if (stored === undefined) throw new AgentError("not_found", `no offer '${offer}'; offer_list shows the offers waiting`);
    const preview = await this.core.mls.previewWelcome(stored.welcome);
    if (!accept) {
      this.core.store.removeOffer(stored.groupId);
      return { status: "declined", channel: preview.name };
    }
    const info = await this.accept(stored.welcome, stored.commitSeq, offer);
    this.core.store.removeOffer(stored.groupId);
    return { status: "joined", ...stateOf(info.channel, info) };
  }
}
