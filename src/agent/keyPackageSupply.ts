import type { Core } from "./core.js";

/** Single-use key packages kept in the relay's directory, besides the last-resort one. */
export const PUBLISHED_KEY_PACKAGES = 3;

/**
 * Keeps this agent's key packages in the relay's directory: its last-resort package, which the
 * relay hands out (and keeps) once the single-use ones are taken, and single-use ones topped up
 * to PUBLISHED_KEY_PACKAGES on every connection and after every join, from the count the relay
 * answers a publish with.
 */
export class KeyPackageSupply {
  private last: Promise<void> = Promise.resolve();
  private waiting: Promise<void> | undefined;

  constructor(private readonly core: Pick<Core, "mls" | "relay" | "quiet">) {}

  /** Tops the directory up; calls made while a run is under way share one more run after it. */
  replenish(): Promise<void> {
    this.waiting ??= this.last.then(() => {
      this.waiting = undefined;
      return this.topUp();
    });
    this.last = this.waiting;
    return this.waiting;
  }

  private async topUp(): Promise<void> {
    const { mls, relay, quiet } = this.core;
    try {
      // Published again each time (the relay keeps one): that is also how the count is learnt.
      let held = await relay.publishKeyPackage(await mls.lastResortKeyPackage(), true);
      for (let i = 0; i < PUBLISHED_KEY_PACKAGES && held < PUBLISHED_KEY_PACKAGES; i++) held = await relay.publishKeyPackage(await mls.createKeyPackage());
    } catch (error) {
      quiet(error);
    }
  }
}
