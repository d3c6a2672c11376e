import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import type { Timers } from "../../src/wire/cover.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh temp dir, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "skytale-transport-"));
  dirs.push(dir);
  return dir;
}

/**
 * The cleartext front of an MLS PrivateMessage (version 1, wire format 2, group id, epoch,
 * content type) followed by `size` filler bytes: enough for the relay to route it.
 */
export function mlsMessage(groupId: Uint8Array, epoch: bigint, contentType: 1 | 2 | 3, size = 64, fill = 0): Uint8Array {
  const header = Buffer.alloc(4 + 1 + groupId.length + 8 + 1);
  header.writeUInt16BE(1, 0);
  header.writeUInt16BE(2, 2);
  header.writeUInt8(groupId.length, 4);
  header.set(groupId, 5);
  header.writeBigUInt64BE(epoch, 5 + groupId.length);
  header.writeUInt8(contentType, 13 + groupId.length);
  return new Uint8Array(Buffer.concat([header, Buffer.alloc(size, fill)]));
}

/** Polls `condition` (real time) until it holds, failing after `ms`. */
export async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Timers a test advances by hand; `now` is their clock. */
export class ManualTimers implements Timers {
  now = 0;
  private nextHandle = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const handle = ++this.nextHandle;
    this.due.set(handle, { at: this.now + ms, fn });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }

  /** Timers still scheduled. */
  get pending(): number {
    return this.due.size;
  }

  /** Moves the clock forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.due) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}
