// The processes of a chaos run: the relay (one process on one data dir, or relay nodes on a
// NATS cluster: relayFleet.ts), SIGKILLed and restarted on the same port, and agent drivers on
// their own data dirs (SIGKILLed and restarted on the same dir).
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { spawnRelay, type RelayProcess } from "../relay/relayProcess.js";
import type { DriverReply, DriverRequest } from "./protocol.js";

const DRIVER = join(import.meta.dirname, "agentDriver.ts");

/** What agents are pointed at: one relay URL, or the nodes' URLs separated by commas, and the relay's key. */
export interface RelayAddress {
  readonly url: string;
  readonly key: Uint8Array;
}

export class RelayHandle implements RelayAddress {
  private process: RelayProcess | undefined;
  private port = 0;
  key: Uint8Array = new Uint8Array();
  kills = 0;

  /** `args`: more relay flags (a node of a cluster: --nats ..., --key-file ...); `logFile` gets its stderr; `port`: 0 picks one. */
  constructor(
    private readonly dataDir: string,
    private readonly args: readonly string[] = [],
    private readonly logFile?: string,
    port = 0,
  ) {
    this.port = port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    return this.process !== undefined;
  }

  async start(): Promise<void> {
    // A port just freed by a killed relay is normally free again at once; retry briefly if not.
    for (let attempt = 0; ; attempt++) {
      try {
        this.process = await spawnRelay(["--port", String(this.port), "--data-dir", this.dataDir, "--cover", "off", ...this.args], this.logFile);
        break;
      } catch (error) {
        if (attempt >= 100) throw error;
        await sleep(100);
      }
    }
    this.port = this.process.port;
    this.key = this.process.key;
  }

  async kill(): Promise<void> {
    const p = this.process;
    if (p === undefined) return;
    this.process = undefined;
    this.kills++;
    p.child.kill("SIGKILL");
    await p.exited;
  }
}

interface Waiter {
  resolve(reply: DriverReply): void;
  reject(error: Error): void;
}

/** The driver died (or was killed) before answering. */
export class DriverGone extends Error {
  override readonly name = "DriverGone";
}

export class DriverHandle {
  private child: ChildProcess | undefined;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private stderr = "";
  kills = 0;
  starts = 0;

  constructor(
    readonly name: string,
    private readonly dataDir: string,
    private readonly logDir: string,
    private readonly relay: RelayAddress,
    /** Every agent of the run: they are each other's contacts. */
    private readonly peers: readonly string[],
  ) {}

  get up(): boolean {
    return this.child !== undefined;
  }

  /** The last part of the driver's stderr, for failure messages. */
  get errors(): string {
    return this.stderr.slice(-2000);
  }

  start(): Promise<void> {
    const child = fork(DRIVER, [], {
      execArgv: ["--import", "tsx"],
      env: {
        ...process.env,
        CHAOS_NAME: this.name,
        CHAOS_DIR: this.dataDir,
        CHAOS_LOG: this.logDir,
        CHAOS_RELAY_URL: this.relay.url,
        CHAOS_RELAY_KEY: Buffer.from(this.relay.key).toString("base64url"),
        CHAOS_PEERS: this.peers.join(","),
      },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.child = child;
    this.starts++;
    child.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    const ready = new Promise<void>((resolve, reject) => {
      this.waiting.set(0, { resolve: () => resolve(), reject });
    });
    child.on("message", (raw) => {
      const reply = raw as DriverReply;
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    child.once("exit", () => {
      if (this.child === child) this.child = undefined;
      for (const waiter of this.waiting.values()) waiter.reject(new DriverGone(`${this.name} exited`));
      this.waiting.clear();
    });
    return ready;
  }

  /** Sends a request; rejects with DriverGone if the driver dies first. */
  call(request: DriverRequest): Promise<DriverReply> {
    const child = this.child;
    if (child === undefined) return Promise.reject(new DriverGone(`${this.name} is down`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      child.send({ ...request, id }, (error) => {
        if (error === null) return;
        this.waiting.delete(id);
        reject(new DriverGone(`${this.name} is down`));
      });
    });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.kills++;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }

  /** Waits for a driver that is killing itself (dieDuring). */
  async exited(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((r) => child.once("exit", r));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
