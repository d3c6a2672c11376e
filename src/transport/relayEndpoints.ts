import { TransportError } from "./errors.js";
import { relayBase } from "./relayUrl.js";

/**
 * One relay reached at several URLs: the nodes of a clustered relay, listed in SKYTALE_RELAY
 * separated by commas. They share one key and one archive, so a client moves to the next one when
 * a link fails and resumes there from its cursors.
 */

/** The base URLs of a relay given as one URL or a comma-separated list; each checked, no repeats. */
export function relayBases(text: string): string[] {
  const bases = [...new Set(text.split(",").map((url) => relayBase(url.trim())))];
  if (bases.length === 0) throw new TransportError("bad_config", "the relay URL list is empty");
  return bases;
}

/** Whether two relay URL lists name the same relay: they share a node. */
export function sameRelay(a: string, b: string): boolean {
  const theirs = new Set(relayBases(b));
  return relayBases(a).some((base) => theirs.has(base));
}

/** The node a client tries next: a random one first (spreading clients over the nodes), then each in turn. */
export class RelayEndpoints {
  private index: number;
  /** Nodes tried since the last link that came up. */
  private tried = 0;

  constructor(
    readonly all: readonly string[],
    random: () => number,
  ) {
    this.index = all.length > 1 ? Math.floor(random() * all.length) % all.length : 0;
  }

  get current(): string {
    return this.all[this.index]!;
  }

  /** A link to the current node came up. */
  succeeded(): void {
    this.tried = 0;
  }

  /**
   * Moves to the next node after a failed attempt or a lost link. True when every node has been
   * tried since the last link came up: the caller then backs off before going round again.
   */
  advance(): boolean {
    this.index = (this.index + 1) % this.all.length;
    this.tried++;
    if (this.tried < this.all.length) return false;
    this.tried = 0;
    return true;
  }
}
