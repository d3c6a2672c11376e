import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { KeyPackagePublished } from "../channelLog.js";
import type { StoreMetrics } from "../metrics.js";
import type { StreamReader } from "./streamReader.js";
import type { Subjects } from "./subjects.js";

/** The server's answer to a publish past max_msgs_per_subject with discard-new-per-subject. */
const SUBJECT_FULL = 10077;
/** Single-use packages taken concurrently by other nodes before this one gives up for now. */
const MAX_TAKE_TRIES = 32;

/**
 * The key-package directory in JetStream: a principal's single-use packages on one subject (the
 * stream refuses more than MAX_KEY_PACKAGES, whichever node publishes), its last-resort package
 * on another. Taking deletes the oldest single-use message by its seq: a delete succeeds once, so
 * two nodes never hand out the same package. Names live beside them: a name's subject holds the
 * principal it is bound to, claimed by compare-and-set on an empty subject (the first key keeps
 * it, whichever node it reaches), or replaced when a token binds it.
 */
export class NatsDirectory {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
    private readonly reader: StreamReader,
    private readonly metrics: StoreMetrics,
    private readonly isConflict: (error: unknown) => boolean,
  ) {}

  async publish(principal: string, keyPackage: Uint8Array, lastResort: boolean): Promise<KeyPackagePublished> {
    const subject = this.subjects.keyPackages(principal, lastResort);
    try {
      const ack = await this.js.publish(subject, keyPackage);
      // The new last-resort package is in; the old one goes.
      if (lastResort) await this.jsm.streams.purge(this.subjects.streams.keyPackages, { filter: subject, seq: ack.seq });
    } catch (error) {
      if ((error as { code?: unknown }).code === SUBJECT_FULL) return { kind: "full" };
      throw error;
    }
    return { kind: "stored", held: await this.held(principal) };
  }

  /** Single-use packages the principal has in the directory now. */
  private async held(principal: string): Promise<number> {
    const single = this.subjects.keyPackages(principal, false);
    const info = await this.jsm.streams.info(this.subjects.streams.keyPackages, { subjects_filter: single });
    return info.state.subjects?.[single] ?? 0;
  }

  async claimName(name: string, principal: string, authoritative: boolean): Promise<boolean> {
    const subject = this.subjects.name(name);
    const data = new TextEncoder().encode(principal);
    try {
      const ack = await this.js.publish(subject, data, authoritative ? {} : { expect: { lastSubjectSequence: 0 } });
      // The binding just made is the name's; older ones go (the subject keeps at most MAX_KEY_PACKAGES).
      if (authoritative) await this.jsm.streams.purge(this.subjects.streams.keyPackages, { filter: subject, seq: ack.seq });
      return true;
    } catch (error) {
      if (authoritative || !this.isConflict(error)) throw error;
    }
    return (await this.nameOwner(name)) === principal;
  }

  async nameOwner(name: string): Promise<string | undefined> {
    const last = await this.reader.last(this.subjects.name(name));
    return last === undefined ? undefined : new TextDecoder().decode(last.data);
  }

  async take(principal: string): Promise<Uint8Array | undefined> {
    const single = this.subjects.keyPackages(principal, false);
    for (let tries = 0; tries < MAX_TAKE_TRIES; tries++) {
      const oldest = await this.reader.next(single, 0);
      if (oldest === undefined) break;
      try {
        await this.jsm.streams.deleteMessage(this.subjects.streams.keyPackages, oldest.seq, false);
        return oldest.data;
      } catch (error) {
        // Another node took it first ("no message found"): try the next one.
        if ((error as { code?: unknown }).code !== 10057) throw error;
        this.metrics.error("key_package_take", "conflict");
      }
    }
    return (await this.reader.last(this.subjects.keyPackages(principal, true)))?.data;
  }
}
