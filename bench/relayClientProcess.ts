// A client process of the relay benchmarks (bench/relayClientChild.ts), and the reports it sends.
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { RelayKind } from "./relayBenchClient.js";
import type { ChildReport } from "./relayClientChild.js";

export interface ClientProcess {
  readonly child: ChildProcess;
  /** Resolves once the process has said `what`; rejects if it exits first. */
  reported(what: ChildReport): Promise<void>;
  /** Disconnects the process (it exits) and resolves once it is gone. */
  end(): Promise<void>;
}

/** `role` clients (one publisher, or `count` subscribers) of the relay at `url`; `execArgv` goes before tsx (a profiler's flags). */
export function clientProcess(
  target: { readonly kind: RelayKind; readonly url: string; readonly key: Uint8Array; readonly channel: Uint8Array },
  role: "pub" | "subs",
  count: number,
  messages: number,
  execArgv: readonly string[] = [],
): ClientProcess {
  const args = [role, target.kind, target.url, Buffer.from(target.key).toString("base64url"), Buffer.from(target.channel).toString("hex"), String(count), String(messages)];
  const child = fork(join(import.meta.dirname, "relayClientChild.ts"), args, { execArgv: [...execArgv, "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const reports: ChildReport[] = [];
  const waiters: (() => void)[] = [];
  child.on("message", (m) => {
    reports.push(m as ChildReport);
    waiters.splice(0).forEach((w) => w());
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    reported: (what) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (reports.includes(what) ? resolve() : waiters.push(check));
        child.once("exit", (code) => reject(new Error(`client process (${role}) exited with ${code} before '${what}'`)));
        check();
      }),
    end: () => (child.disconnect(), exited),
  };
}
