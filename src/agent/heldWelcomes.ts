import type { AgentStore } from "../store/agentStore.js";

/**
 * Setting holding a Welcome that came for a group (hex id) this agent still held, as
 * `commitSeq:base64`; empty once used or dropped. The inbox cursor has moved past it, so it must
 * outlive a restart until the removal it waits for (or split evidence) is applied.
 */
const HELD_WELCOME = "held_welcome:";

/** A Welcome that could not be used while this agent held its group already. */
export interface HeldWelcome {
  readonly welcome: Uint8Array;
  readonly commitSeq: number;
}

/**
 * Welcomes that arrived before the removal they follow: the inbox and a channel's stream are
 * separate orders, so after a reconnect a re-add's Welcome can come before the removal. One per
 * group, in the data dir; a newer one replaces it.
 */
export class HeldWelcomes {
  constructor(private readonly store: AgentStore) {}

  hold(groupHex: string, held: HeldWelcome): void {
    this.store.setSetting(HELD_WELCOME + groupHex, `${held.commitSeq}:${Buffer.from(held.welcome).toString("base64")}`);
  }

  get(groupHex: string): HeldWelcome | undefined {
    const value = this.store.setting(HELD_WELCOME + groupHex);
    if (!value) return undefined;
    const [seq, welcome] = value.split(":");
    return { commitSeq: Number(seq), welcome: new Uint8Array(Buffer.from(welcome ?? "", "base64")) };
  }

  drop(groupHex: string): void {
    this.store.setSetting(HELD_WELCOME + groupHex, "");
  }

  /** Groups (hex) with a Welcome held. */
  groups(): string[] {
    return this.store.settingsWithPrefix(HELD_WELCOME).map(([key]) => key.slice(HELD_WELCOME.length));
  }
}
