import { parseRelayConfig } from "../relay/config.js";
import { Relay } from "../relay/relayServer.js";
import { resolveLocalRelayDir } from "../store/dataDir.js";
import { probeRelay } from "../transport/relayProbe.js";
import { AgentError } from "./types.js";

export const LOCAL_RELAY_PORT = 8787;
export const LOCAL_RELAY_URL = `ws://127.0.0.1:${LOCAL_RELAY_PORT}`;

/** What ensure() found on the local port. */
export type LocalRelayState = "hosted" | "found" | "taken";

/** The local relay's port: SKYTALE_LOCAL_RELAY_PORT, else 8787. */
export function localRelayPort(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.SKYTALE_LOCAL_RELAY_PORT?.trim();
  if (!text) return LOCAL_RELAY_PORT;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new AgentError("bad_request", `SKYTALE_LOCAL_RELAY_PORT must be a port number from 1 to 65535 (got "${text}")`);
  }
  return port;
}

/** What to tell the user when another program holds the local relay's port. */
export function portTaken(port: number, detail: string): string {
  return (
    `127.0.0.1:${port}, the local relay's port, is held by another program that is not a skytale relay (${detail}). ` +
    `Stop that program, or give every agent on this machine another port with SKYTALE_LOCAL_RELAY_PORT (e.g. ${port + 1}), ` +
    "or set SKYTALE_RELAY to a relay's URL"
  );
}

/**
 * The zero-infrastructure default: agents on one machine share a relay on 127.0.0.1 (port 8787,
 * or SKYTALE_LOCAL_RELAY_PORT) with one data dir (see resolveLocalRelayDir). Whichever agent finds
 * no relay there starts one in its own process; when that process exits, the next agent to notice
 * takes over the same data dir (the relay key and archive included), so nothing is lost and pinned
 * keys stay valid. When another program holds the port, it says so at once (and `problem` says
 * why) instead of letting every request wait for a relay that is not there.
 */
export class LocalRelayHost {
  private relay: Relay | undefined;
  private taken: string | undefined;
  private checking: Promise<LocalRelayState> | undefined;

  constructor(
    private readonly dataDir = resolveLocalRelayDir(undefined),
    readonly port = localRelayPort(),
    private readonly log: (line: string) => void = (line) => process.stderr.write(`skytale: ${line}\n`),
  ) {}

  /** The local relay of an agent whose own data dir is `dataDir` (undefined: the default layout). */
  static forAgent(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): LocalRelayHost {
    return new LocalRelayHost(resolveLocalRelayDir(dataDir, env), localRelayPort(env));
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Where the relay keeps its key and archive when an agent hosts it. */
  get dir(): string {
    return this.dataDir;
  }

  /** True while this process hosts the relay. */
  get hosting(): boolean {
    return this.relay !== undefined;
  }

  /** Why no relay can be used on the port (another program holds it), or undefined. */
  get problem(): string | undefined {
    return this.taken;
  }

  /** Makes sure a relay answers on the local port, starting one here if none does. */
  ensure(): Promise<LocalRelayState> {
    this.checking ??= this.check().finally(() => (this.checking = undefined));
    return this.checking;
  }

  async close(): Promise<void> {
    await this.checking?.catch(() => undefined);
    await this.relay?.close();
    this.relay = undefined;
  }

  private async check(): Promise<LocalRelayState> {
    if (this.relay !== undefined) return "hosted";
    const probe = await probeRelay(this.url);
    if (probe.kind === "relay") return this.usable("found");
    if (probe.kind !== "none") return this.heldBy(probe.detail);
    try {
      this.relay = await Relay.start(parseRelayConfig(["--port", String(this.port), "--data-dir", this.dataDir], {}), { log: this.log });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      // Another agent won the race to the port (use its relay), or something else took it.
      const again = await probeRelay(this.url);
      return again.kind === "relay" ? this.usable("found") : this.heldBy(again.kind === "none" ? "it refuses connections, yet cannot be bound" : again.detail);
    }
    this.log(`no relay answered on 127.0.0.1:${this.port}; hosting one in this process (data in ${this.dataDir})`);
    return this.usable("hosted");
  }

  private usable(state: "hosted" | "found"): LocalRelayState {
    if (this.taken !== undefined) this.log(`127.0.0.1:${this.port} is free of the other program now; using the local relay there`);
    this.taken = undefined;
    return state;
  }

  private heldBy(detail: string): LocalRelayState {
    const problem = portTaken(this.port, detail);
    if (problem !== this.taken) this.log(problem);
    this.taken = problem;
    return "taken";
  }
}
