import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import { join } from "node:path";

const CLI = join(import.meta.dirname, "../../src/cli.ts");

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  readonly key: Uint8Array;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `skytale-mcp relay` as a child process (through tsx) and waits until it listens; `logFile` gets its stderr too. */
export function spawnRelay(args: string[], logFile?: string): Promise<RelayProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, "relay", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    // A relay that does not start in time is killed: left running, it would take its port later.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`relay did not start: ${err}`));
    }, 60_000);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`relay exited with ${code}: ${err}`), { stderr: err, code }));
    });
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (logFile !== undefined) appendFileSync(logFile, d);
      const url = /listening on (ws:\/\/[^\s]+)/.exec(err)?.[1];
      const key = /relay key \(SKYTALE_RELAY_KEY\): ([A-Za-z0-9_-]+)/.exec(err)?.[1];
      if (url && key) {
        clearTimeout(timer);
        resolve({ child, url, port: Number(new URL(url).port), key: new Uint8Array(Buffer.from(key, "base64url")), stderr: () => err, exited });
      }
    });
  });
}
