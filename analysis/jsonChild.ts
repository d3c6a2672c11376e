// A TypeScript script in a child process of its own (so that its work runs on its own clock),
// spoken to in lines on stdin and stdout: shared by the analysis and the benchmarks.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface JsonChild {
  readonly process: ChildProcess;
  /** The next line the child prints (a first report, or the answer to a raw command). */
  nextLine(): Promise<string>;
  /** Writes a line to the child. */
  write(line: string): void;
  /** Sends `command` as a JSON line and resolves with the `value` of its `{ok, value, error}` answer line, in order. */
  call<T>(command: Record<string, unknown>): Promise<T>;
  /** Ends its stdin: children stop when it ends. */
  stop(): void;
}

/** Spawns `script` (an absolute path) with node and tsx; `onStderr` gets its stderr lines (default: inherited). */
export function spawnJsonChild(script: string, args: readonly string[], o: { name: string; execArgv?: readonly string[]; onStderr?: (line: string) => void }): JsonChild {
  const proc = spawn(process.execPath, [...(o.execArgv ?? []), "--import", "tsx", script, ...args], { stdio: ["pipe", "pipe", o.onStderr === undefined ? "inherit" : "pipe"] });
  if (o.onStderr !== undefined) createInterface({ input: proc.stderr! }).on("line", o.onStderr);
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  createInterface({ input: proc.stdout! }).on("line", (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`${o.name} exited (${code})`))));
  exited.catch(() => undefined);
  const nextLine = () => Promise.race([queue.length > 0 ? Promise.resolve(queue.shift() as string) : new Promise<string>((r) => waiters.push(r)), exited]);
  const write = (line: string) => proc.stdin!.write(`${line}\n`);
  let chain: Promise<unknown> = Promise.resolve();
  return {
    process: proc,
    nextLine,
    write,
    call<T>(command: Record<string, unknown>): Promise<T> {
      const answer = chain.then(async () => {
        write(JSON.stringify(command));
        const r = JSON.parse(await nextLine()) as { ok: boolean; value: T; error?: string };
        if (!r.ok) throw new Error(`${o.name}: ${r.error}`);
        return r.value;
      });
      chain = answer.catch(() => undefined);
      return answer;
    },
    stop: () => proc.stdin!.end(),
  };
}
