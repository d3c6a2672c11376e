import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * How often the background thread copies the write-ahead log into the database file. Each pass
 * copies the pages committed since the last one (a page rewritten by several batches once) and
 * syncs the file: at 200 ms the thread costs about half the CPU it did at 50 ms, for a log of at
 * most a fifth of a second of writes.
 */
export const CHECKPOINT_INTERVAL_MS = 200;
/**
 * The writer's own checkpoint threshold (bytes of log) while the background thread runs: only a
 * backstop, for a log the background checkpoints could not catch up with (a writer that never
 * pauses). 10,000 pages of 4 KiB.
 */
export const BACKSTOP_CHECKPOINT_BYTES = 10_000 * 4096;

/*
 * The worker's code, as CommonJS text so that it runs the same from src (tsx, vitest) and dist.
 * A PASSIVE checkpoint never waits for, nor blocks, the writer: it copies what is committed and
 * returns. Checkpointing moves committed pages from the log into the database file; it decides
 * nothing about what is durable, so doing it on another thread changes no guarantee.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
const timer = setInterval(() => {
  try { db.pragma("wal_checkpoint(PASSIVE)"); } catch { /* busy: the next tick tries again */ }
}, workerData.intervalMs);
parentPort.once("message", () => {
  clearInterval(timer);
  try { db.close(); } catch { /* the data dir may be gone already; nothing is lost */ }
  parentPort.close();
});
`;

/**
 * Runs SQLite's WAL checkpoints on a worker thread with its own connection, so that the relay's
 * event loop never stops for one (they copy megabytes and fsync the database file).
 */
export class BackgroundCheckpointer {
  private readonly worker: Worker;

  /** `onFailure` runs if the thread dies; the caller then checkpoints on its own again. */
  constructor(path: string, onFailure: (error: Error) => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    // No execArgv: the thread needs no loader hooks (tsx, test runners) of the main thread.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { driver, path, intervalMs: CHECKPOINT_INTERVAL_MS } });
    this.worker.on("error", onFailure);
    this.worker.unref();
  }

  /** Asks the thread to close its connection and end; returns at once. */
  stop(): void {
    this.worker.postMessage("stop");
  }
}
