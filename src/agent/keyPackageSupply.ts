import type { Core } from "./core.js";

/** Key packages published on every start, so that members can add this agent while it is away. */
export const PUBLISHED_KEY_PACKAGES = 3;

/** Keeps this agent's key packages in the relay's directory (one more after each join uses one up). */
export class KeyPackageSupply {
  constructor(private readonly core: Pick<Core, "mls" | "relay" | "quiet">) {}

  async publish(count: number): Promise<void> {
    const { mls, relay, quiet } = this.core;
    for (let i = 0; i < count; i++) {
      await relay.publishKeyPackage(await mls.createKeyPackage()).catch((e: unknown) => quiet(e));
    }
  }
}
