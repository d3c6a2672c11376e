import { DEFAULT_LIMITS, type RelayConfig } from "../../src/relay/config.js";

/** A relay for tests: loopback, a free port, no auth, cover off, default limits, `overrides` on top. */
export function testRelayConfig(dataDir: string, overrides: Partial<RelayConfig> = {}): RelayConfig {
  return {
    host: "127.0.0.1",
    port: 0,
    dataDir,
    authSecret: undefined,
    cover: { mode: "off", rate: 0 },
    retentionDays: 7,
    maxChannelBytes: 64 * 1024 * 1024,
    durability: "normal",
    limits: DEFAULT_LIMITS,
    ...overrides,
  };
}
