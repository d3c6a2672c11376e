import { afterEach } from "vitest";
import { DEFAULT_LIMITS, type RelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { tempDir, type ChannelStream } from "../helpers.js";
import { testChannel, testIdentity } from "../identity.js";
import { bigintJson, TestLink, type TestLinkOptions } from "./testLink.js";

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
export async function link(relay: Relay, agent: string, options: TestLinkOptions = {}): Promise<TestLink> {
  const l = await TestLink.connect(relay.url, relay.relayKey.publicKey, agent, options);
  links.push(l);
  return l;
}

/**
 * Brings the relay up to the channel's state on a link of its creator: the opening, then the
 * commits groupFrom made (as their members applied them), so that the relay's epoch and commit
 * key are the group's.
 */
export async function openAtRelay(creator: TestLink, stream: ChannelStream): Promise<void> {
  if (stream.opening === undefined) throw new Error("the channel was not created through groupFrom");
  const opened = await creator.request({ type: "ChannelOpen", id: 0n, ...stream.opening });
  if (opened.type !== "Ack") throw new Error(`opening refused: ${JSON.stringify(opened, bigintJson)}`);
  for (const c of stream.commits) {
    const reply = await creator.request({ type: "GroupCommit", id: 0n, commit: c.commit, welcome: undefined, proof: c.proof });
    if (reply.type !== "GroupAck") throw new Error(`commit refused: ${JSON.stringify(reply, bigintJson)}`);
  }
}

/**
 * A channel opened at the relay by the agent on `creator` (its test identity's key makes the id),
 * for tests that send hand-made MLS-shaped frames; `label` makes another channel of the same agent.
 */
export async function openedChannel(creator: TestLink, label = ""): Promise<ReturnType<typeof testChannel>> {
  const channel = testChannel(testIdentity(creator.agent), label);
  const opened = await creator.request({ type: "ChannelOpen", id: 0n, ...channel.opening });
  if (opened.type !== "Ack") throw new Error(`opening refused: ${JSON.stringify(opened, bigintJson)}`);
  return channel;
}
