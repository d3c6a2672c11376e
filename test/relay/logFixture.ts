import type { CommitAuthorization } from "../../src/relay/channelLog.js";
import { SqliteChannelLog } from "../../src/relay/sqliteChannelLog.js";

/** A commit authorization the log accepts (the proofs themselves are tested in test/wire/commitProof.test.ts). */
export const signed: CommitAuthorization = { verify: () => true, nextKey: new Uint8Array(32) };

/** A SqliteChannelLog in `dir` with `channels` opened (by principal "a"): the log accepts nothing on a channel before. */
export function openedLog(dir: string, options: ConstructorParameters<typeof SqliteChannelLog>[1], ...channels: Uint8Array[]): SqliteChannelLog {
  const log = new SqliteChannelLog(dir, options);
  for (const channel of channels) log.openChannel(channel, "a", new Uint8Array(32));
  return log;
}
