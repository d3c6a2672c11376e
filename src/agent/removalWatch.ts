import type { Core } from "./core.js";

/** Runs an MLS step that may apply a commit (see watchingRemovals). */
export type RemovalWatch = <T>(channel: string, step: () => Promise<T>) => Promise<T>;

/**
 * Every member applies the same commits, so all of them see a removal at the same point: each
 * then forgets the channel's open invites, which the removed member also knows.
 */
export function watchingRemovals(core: Pick<Core, "mls" | "store" | "log">): RemovalWatch {
  const { mls, store, log } = core;
  return async (channel, step) => {
    const names = async () => new Set((await mls.channelInfo(channel)).members.map((m) => m.name));
    const before = await names();
    const result = await step();
    if (!mls.channels().includes(channel)) return result;
    const after = await names();
    if ([...before].some((name) => !after.has(name)) && store.revokeInvites(channel) > 0) {
      log(`a member left ${channel}: its open invites are revoked`);
    }
    return result;
  };
}
