import { homedir } from "node:os";
import { join } from "node:path";
import { parseRelayConfig } from "../relay/config.js";
import { Relay } from "../relay/relayServer.js";

export const LOCAL_RELAY_PORT = 8787;
export const LOCAL_RELAY_URL = `ws://127.0.0.1:${LOCAL_RELAY_PORT}`;

async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * The zero-infrastructure default: agents on one machine share a relay on 127.0.0.1:8787 with
 * one data dir (~/.skytale/relay). Whichever agent finds no relay there starts one in its own
 * process; when that process exits, the next agent to notice takes over the same data dir (the
 * relay key and archive included), so nothing is lost and pinned keys stay valid.
 */
export class LocalRelayHost {
  private relay: Relay | undefined;

  constructor(
    private readonly dataDir = join(homedir(), ".skytale", "relay"),
    private readonly port = LOCAL_RELAY_PORT,
    private readonly log: (line: string) => void = (line) => process.stderr.write(`skytale: ${line}\n`),
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** True while this process hosts the relay. */
  get hosting(): boolean {
    return this.relay !== undefined;
  }

  /** Makes sure a relay answers on the local port, starting one here if none does. */
  async ensure(): Promise<"hosted" | "found"> {
    if (this.relay !== undefined) return "hosted";
    if (await answers(this.port)) return "found";
    try {
      this.relay = await Relay.start(parseRelayConfig(["--port", String(this.port), "--data-dir", this.dataDir], {}), { log: this.log });
      this.log(`no relay answered on 127.0.0.1:${this.port}; hosting one in this process (data in ${this.dataDir})`);
      return "hosted";
    } catch (error) {
      // Another agent won the race to the port: use its relay.
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") return "found";
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.relay?.close();
    this.relay = undefined;
  }
}
