import type { CommitAuthorization } from "../../src/relay/channelLog.js";
import { SqliteArchive } from "../../src/relay/sqliteArchive.js";

/** A commit authorization the log accepts (the proofs themselves are tested in test/wire/commitProof.test.ts). */
export const signed: CommitAuthorization = { verify: () => true, nextKey: new Uint8Array(32) };

/** A SqliteArchive in `dir` with `channels` opened (by principal "a"): the archive accepts nothing on a channel before. */
export function openedLog(dir: string, options: ConstructorParameters<typeof SqliteArchive>[1], ...channels: Uint8Array[]): SqliteArchive {
  const log = new SqliteArchive(dir, options);
  for (const channel of channels) log.openChannel(channel, "a", new Uint8Array(32));
  return log;
}
