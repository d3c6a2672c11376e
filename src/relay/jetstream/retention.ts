import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { decodeRecord, encodeRecord, frameCount, recordMsgId } from "./records.js";
import type { StreamReader } from "./streamReader.js";
import type { Subjects } from "./subjects.js";

/**
 * Retention for the JetStream archive, run by each node (the steps are safe to repeat): per
 * channel, the records older than the retention and the oldest beyond the size cap are purged.
 * The channel's last record is never purged: it holds the channel's state (last seq, epoch,
 * commit key). When every record is to go, a checkpoint record (no frames, the same state) is
 * appended first, by compare-and-set like any record, and the purge stops just before it: a
 * pruned channel goes on from its last seq, with its commit key.
 */
export async function pruneChannels(
  js: JetStreamClient,
  jsm: JetStreamManager,
  subjects: Subjects,
  reader: StreamReader,
  nowMs: number,
  olderThanMs: number,
  maxBytesPerChannel: number,
): Promise<number> {
  const info = await jsm.streams.info(subjects.streams.channels, { subjects_filter: subjects.allChannels });
  let removed = 0;
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const channel = subjects.channelOf(subject);
    if (channel !== undefined) removed += await pruneChannel(js, jsm, subjects, reader, channel, nowMs - olderThanMs, maxBytesPerChannel);
  }
  return removed;
}

async function pruneChannel(js: JetStreamClient, jsm: JetStreamManager, subjects: Subjects, reader: StreamReader, channel: Uint8Array, cutoffMs: number, maxBytes: number): Promise<number> {
  const subject = subjects.channel(channel);
  const last = await reader.last(subject);
  if (last === undefined) return 0;
  const heads: { seq: number; frames: number; bytes: number; old: boolean }[] = [];
  for await (const m of reader.range(subject, 0, last.seq, true)) {
    const head = decodeRecord(m.seq, m.header, undefined);
    heads.push({ seq: m.seq, frames: frameCount(head), bytes: Number(m.header?.get("Nats-Msg-Size") || m.data.length), old: m.timeMs < cutoffMs });
  }
  // Keep the newest records that are recent enough and fit the cap together.
  let keepFrom = heads.length;
  let kept = 0;
  for (let i = heads.length - 1; i >= 0; i--) {
    const h = heads[i]!;
    if (h.old || kept + h.bytes > maxBytes) break;
    kept += h.bytes;
    keepFrom = i;
  }
  if (keepFrom === 0) return 0;
  let purgeBelow: number;
  if (keepFrom < heads.length) {
    purgeBelow = heads[keepFrom]!.seq;
  } else if (heads.at(-1)!.frames === 0) {
    purgeBelow = heads.at(-1)!.seq;
  } else {
    const lastHead = decodeRecord(last.seq, last.header, undefined);
    const ids = new Uint8Array(0);
    const checkpoint = { prev: last.seq, first: lastHead.state.lastSeq + 1n, ids, state: lastHead.state, win: last.seq, handshake: false, msgId: recordMsgId(channel, last.seq, ids), frames: [] };
    const { headers, body } = encodeRecord(checkpoint);
    try {
      purgeBelow = (await js.publish(subject, body, { headers, expect: { lastSubjectSequence: last.seq } })).seq;
    } catch {
      // A new record came in: the channel is in use, the next pass prunes it.
      return 0;
    }
  }
  const removed = heads.filter((h) => h.seq < purgeBelow).reduce((n, h) => n + h.frames, 0);
  await jsm.streams.purge(subjects.streams.channels, { filter: subject, seq: purgeBelow });
  return removed;
}
