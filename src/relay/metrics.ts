import { BUCKETS } from "../wire/buckets.js";
import type { Quotas } from "./quotas.js";

/** Index of each bucket size in BUCKETS, for counting link frames in arrays. */
const BUCKET_INDEX = new Map<number, number>(BUCKETS.map((b, i) => [b, i]));

/** Upper bounds (seconds) of the storage latency histogram's buckets. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/** Latency and errors of the store's operations (JetStream requests; SQLite batches). */
export class StoreMetrics {
  private readonly latency = new Map<string, { counts: number[]; sum: number; count: number }>();
  private readonly errors = new Map<string, number>();
  private readonly events = new Map<string, number>();

  /** Records one operation `op` that took `seconds`. */
  observe(op: string, seconds: number): void {
    let h = this.latency.get(op);
    if (h === undefined) this.latency.set(op, (h = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    const i = LATENCY_BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** Counts an error of `op`: `kind` is "conflict" (a lost compare-and-set), "unavailable" (retried or refused), ... */
  error(op: string, kind: string): void {
    const key = `${op} ${kind}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  /** Counts something the store did that is not an error: `what` happened with `outcome`. */
  event(what: string, outcome: string): void {
    const key = `${what} ${outcome}`;
    this.events.set(key, (this.events.get(key) ?? 0) + 1);
  }

  errorCount(op: string, kind: string): number {
    return this.errors.get(`${op} ${kind}`) ?? 0;
  }

  render(lines: string[]): void {
    lines.push("# HELP skytale_relay_store_seconds Latency of storage operations (JetStream requests, SQLite batches).", "# TYPE skytale_relay_store_seconds histogram");
    for (const [op, h] of this.latency) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((b, i) => {
        cumulative += h.counts[i]!;
        lines.push(`skytale_relay_store_seconds_bucket{op="${op}",le="${b}"} ${cumulative}`);
      });
      lines.push(`skytale_relay_store_seconds_bucket{op="${op}",le="+Inf"} ${h.count}`, `skytale_relay_store_seconds_sum{op="${op}"} ${h.sum}`, `skytale_relay_store_seconds_count{op="${op}"} ${h.count}`);
    }
    lines.push("# HELP skytale_relay_store_errors_total Storage operations that failed, by kind.", "# TYPE skytale_relay_store_errors_total counter");
    for (const [key, n] of this.errors) {
      const [op, kind] = key.split(" ");
      lines.push(`skytale_relay_store_errors_total{op="${op}",kind="${kind}"} ${n}`);
    }
    lines.push("# HELP skytale_relay_store_events_total Things the store did, by outcome (Welcomes finished for a node that died: won or lost).", "# TYPE skytale_relay_store_events_total counter");
    for (const [key, n] of this.events) {
      const [what, outcome] = key.split(" ");
      lines.push(`skytale_relay_store_events_total{event="${what}",outcome="${outcome}"} ${n}`);
    }
  }
}

/**
 * Counters and gauges. `render` is GET /metrics on the operator's port, in Prometheus text
 * format; it leaves out the link-frame and cover counters, because the difference between link
 * frames and envelopes is exactly when agents talk, which cover traffic exists to hide. Those stay
 * readable in process (tests, the demo).
 */
export class RelayMetrics {
  readonly store = new StoreMetrics();
  connections = 0;
  readonly framesIn = new Map<string, number>();
  readonly framesOut = new Map<string, number>();
  /** Link frames by bucket index, per direction: counted on every frame, so plain arrays. */
  private readonly frameCounts = { in: BUCKETS.map(() => 0), out: BUCKETS.map(() => 0) };
  coverIn = 0;
  coverOut = 0;
  acks = 0;
  nacks = 0;
  authFailures = 0;
  protocolErrors = 0;
  /** The relay's quota book (quotas.ts), once its handlers exist. */
  quotas: Pick<Quotas, "charged" | "refused" | "tracked"> | undefined;

  countIn(type: string): void {
    this.framesIn.set(type, (this.framesIn.get(type) ?? 0) + 1);
  }

  countOut(type: string): void {
    this.framesOut.set(type, (this.framesOut.get(type) ?? 0) + 1);
  }

  /** Counts a link frame; `size` is always a bucket size (frames of other sizes are refused before). */
  countFrame(direction: "in" | "out", size: number): void {
    const i = BUCKET_INDEX.get(size);
    if (i !== undefined) this.frameCounts[direction][i]!++;
  }

  /** Link frames by direction and size ("in 2048"): what an observer of the wire sees. */
  get linkFrames(): Map<string, number> {
    const frames = new Map<string, number>();
    for (const direction of ["in", "out"] as const) {
      BUCKETS.forEach((size, i) => {
        const n = this.frameCounts[direction][i]!;
        if (n > 0) frames.set(`${direction} ${size}`, n);
      });
    }
    return frames;
  }

  /** The text of /metrics; `store` is undefined when the store could not be asked (its gauges are left out). */
  render(store: { channels: number; archiveBytes: number } | undefined, storeUp = true): string {
    const lines: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels} ${v}`);
    };
    const byType = (m: Map<string, number>): [string, number][] => [...m].map(([t, v]) => [`{type="${t}"}`, v]);
    metric("skytale_relay_connections", "gauge", "Open client connections.", [["", this.connections]]);
    metric("skytale_relay_store_up", "gauge", "1 while the store (SQLite, or the NATS connection) is usable.", [["", storeUp ? 1 : 0]]);
    if (store !== undefined) {
      metric("skytale_relay_channels", "gauge", "Channels in the archive.", [["", store.channels]]);
      metric("skytale_relay_archive_bytes", "gauge", "Bytes of archived frames (JetStream: of the channels stream).", [["", store.archiveBytes]]);
    }
    metric("skytale_relay_frames_in_total", "counter", "Envelopes received, by type.", byType(this.framesIn));
    metric("skytale_relay_frames_out_total", "counter", "Envelopes sent, by type.", byType(this.framesOut));
    metric("skytale_relay_group_acks_total", "counter", "Handshakes accepted.", [["", this.acks]]);
    metric("skytale_relay_group_nacks_total", "counter", "Handshakes rejected for a stale epoch.", [["", this.nacks]]);
    metric("skytale_relay_auth_failures_total", "counter", "Refused authentications.", [["", this.authFailures]]);
    metric("skytale_relay_protocol_errors_total", "counter", "Connections closed for malformed input.", [["", this.protocolErrors]]);
    if (this.quotas !== undefined) {
      const byQuota = (m: Map<string, number>): [string, number][] => [...m].map(([q, v]) => [`{quota="${q}"}`, v]);
      metric("skytale_relay_quota_charged_total", "counter", "Amounts charged to identities' quotas, by quota (bytes, items, channels, recipients or key packages).", byQuota(this.quotas.charged));
      metric("skytale_relay_quota_refusals_total", "counter", "Requests refused as quota_exceeded, by quota.", byQuota(this.quotas.refused));
      metric("skytale_relay_quota_identities", "gauge", "Identities whose quota window this node holds.", [["", this.quotas.tracked]]);
    }
    this.store.render(lines);
    return `${lines.join("\n")}\n`;
  }
}
