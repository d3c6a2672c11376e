// A test worker whose main thread blocks (a native deadlock, a synchronous endless loop) never
// reaches a test timeout, and the whole run waits until CI kills it, without saying where. A
// watchdog thread sees the main thread's heartbeat stop, names the test that was running, and
// kills the worker, so vitest reports that file as failed and the run ends.
import { Worker } from "node:worker_threads";
import { beforeEach } from "vitest";

const STALL_SECONDS = Number(process.env.SKYTALE_TEST_STALL_SECONDS ?? 120);
const NAME_BYTES = 1024;

const heartbeat = new Int32Array(new SharedArrayBuffer(4));
const name = new Uint8Array(new SharedArrayBuffer(NAME_BYTES));

function beat(): void {
  Atomics.store(heartbeat, 0, Math.floor(performance.now() / 1000));
}

beat();
setInterval(beat, 1000).unref();

beforeEach((context) => {
  const encoded = new TextEncoder().encode(`${context.task.file.name} > ${context.task.name}`).subarray(0, NAME_BYTES - 1);
  name.fill(0);
  name.set(encoded);
});

const WATCHDOG = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { heartbeat, name, stallSeconds } = workerData;
setInterval(() => {
  const silent = Math.floor(performance.now() / 1000) - Atomics.load(heartbeat, 0);
  if (silent < stallSeconds) return;
  const end = name.indexOf(0);
  const test = new TextDecoder().decode(name.slice(0, end < 0 ? name.length : end)) || "(before the first test)";
  writeSync(2, "\\nstall watchdog: the main thread of this test worker has been blocked for " + silent + " s, in " + test + "; killing the worker\\n");
  process.kill(process.pid, "SIGKILL");
}, 1000);
`;

new Worker(WATCHDOG, { eval: true, workerData: { heartbeat, name, stallSeconds: STALL_SECONDS } }).unref();
