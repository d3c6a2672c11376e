import { BUCKETS } from "../wire/buckets.js";

/** Index of each bucket size in BUCKETS, for counting link frames in arrays. */
const BUCKET_INDEX = new Map<number, number>(BUCKETS.map((b, i) => [b, i]));

/**
 * Counters and gauges. `render` is GET /metrics on the operator's port, in Prometheus text
 * format; it leaves out the link-frame and cover counters, because the difference between link
 * frames and envelopes is exactly when agents talk, which cover traffic exists to hide. Those stay
 * readable in process (tests, the demo).
 */
export class RelayMetrics {
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

  render(store: { channels: number; archiveBytes: number }): string {
    const lines: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels} ${v}`);
    };
    const byType = (m: Map<string, number>): [string, number][] => [...m].map(([t, v]) => [`{type="${t}"}`, v]);
    metric("skytale_relay_connections", "gauge", "Open client connections.", [["", this.connections]]);
    metric("skytale_relay_channels", "gauge", "Channels in the archive.", [["", store.channels]]);
    metric("skytale_relay_archive_bytes", "gauge", "Bytes of archived frame bodies.", [["", store.archiveBytes]]);
    metric("skytale_relay_frames_in_total", "counter", "Envelopes received, by type.", byType(this.framesIn));
    metric("skytale_relay_frames_out_total", "counter", "Envelopes sent, by type.", byType(this.framesOut));
    metric("skytale_relay_group_acks_total", "counter", "Handshakes accepted.", [["", this.acks]]);
    metric("skytale_relay_group_nacks_total", "counter", "Handshakes rejected for a stale epoch.", [["", this.nacks]]);
    metric("skytale_relay_auth_failures_total", "counter", "Refused authentications.", [["", this.authFailures]]);
    metric("skytale_relay_protocol_errors_total", "counter", "Connections closed for malformed input.", [["", this.protocolErrors]]);
    return `${lines.join("\n")}\n`;
  }
}
