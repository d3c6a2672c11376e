import { afterEach } from "vitest";
import { DEFAULT_LIMITS, type RelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { tempDir } from "../helpers.js";
import { TestLink } from "./testLink.js";

const running: Relay[] = [];
const links: TestLink[] = [];
afterEach(async () => {
  links.splice(0).forEach((l) => l.close());
  await Promise.all(running.splice(0).map((r) => r.close()));
});

/** A relay on 127.0.0.1, a free port and a temp data dir, closed after each test. */
export async function startRelay(overrides: Partial<RelayConfig> = {}): Promise<Relay> {
  const relay = await Relay.start({
    host: "127.0.0.1",
    port: 0,
    dataDir: tempDir("skytale-relay-"),
    authSecret: undefined,
    cover: { mode: "off", rate: 0 },
    retentionDays: 7,
    maxChannelBytes: 64 * 1024 * 1024,
    durability: "normal",
    limits: DEFAULT_LIMITS,
    ...overrides,
  });
  running.push(relay);
  return relay;
}

/** A TestLink to `relay`, closed after each test. */
export async function link(relay: Relay, agent: string, options: { token?: string; auth?: boolean; revision?: number } = {}): Promise<TestLink> {
  const l = await TestLink.connect(relay.url, relay.relayKey.publicKey, agent, options);
  links.push(l);
  return l;
}
