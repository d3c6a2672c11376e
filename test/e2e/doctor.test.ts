// `skytale-mcp doctor` against real setups, good and broken the ways new users break them: each
// problem is named with a fix, and the exit code says whether any check failed.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintToken } from "../../src/relay/token.js";
import { tempDir, TEST_SECRET } from "../helpers.js";
import { spawnRelay, type RelayProcess } from "../relay/relayProcess.js";
import { foreignHttpServer, freePort, identityKeyOf, runCli, type CliRun } from "./cliProcess.js";

const SECRET = TEST_SECRET;
const WEEK = 7 * 24 * 3600;
let relay: RelayProcess;
let foreign: Awaited<ReturnType<typeof foreignHttpServer>>;
beforeAll(async () => {
  relay = await spawnRelay(["--port", "0", "--data-dir", tempDir("skytale-doctor-relay-"), "--auth-secret", SECRET, "--cover", "off"]);
  foreign = await foreignHttpServer(200);
});
afterAll(async () => {
  relay.child.kill("SIGKILL");
  await foreign.close();
});

function doctor(env: Record<string, string>): Promise<CliRun> {
  return runCli(["doctor"], { HOME: tempDir("skytale-home-"), SKYTALE_COVER: "off", ...env });
}

/** The line of a check and the fix under it, if any. */
function finding(run: CliRun, topic: string): string {
  const lines = run.stdout.split("\n");
  const at = lines.findIndex((l) => new RegExp(`^(ok|warn|FAIL) +${topic}: `).test(l));
  if (at < 0) throw new Error(`no '${topic}' check in:\n${run.stdout}\n${run.stderr}`);
  return lines[at + 1]?.startsWith("      fix: ") ? `${lines[at]}\n${lines[at + 1]}` : (lines[at] as string);
}

describe("skytale-mcp doctor", () => {
  it("passes a working setup: a relay on its own, a token, and says what it checked", async () => {
    const dataDir = join(tempDir("skytale-doctor-"), "planner");
    const where = { SKYTALE_IDENTITY: "planner", SKYTALE_DATA_DIR: dataDir, SKYTALE_RELAY: relay.url };
    const fresh = await doctor(where);
    expect(finding(fresh, "link")).toMatch(/^ok +link: not tried: a new agent has no identity key yet/);
    const key = await identityKeyOf({ ...where, HOME: tempDir("skytale-home-") });
    const run = await doctor({ ...where, SKYTALE_TOKEN: mintToken(SECRET, "planner", key, WEEK) });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(finding(run, "node")).toMatch(/^ok +node: v\d+/);
    expect(finding(run, "identity")).toMatch(/^ok +identity: planner$/);
    expect(finding(run, "data dir")).toMatch(/^ok +data dir: .*agent 'planner', key did:key:z6Mk/);
    expect(finding(run, "token")).toMatch(/^ok +token: issued to 'planner', valid until/);
    expect(finding(run, "relay")).toMatch(/^ok +relay: .* is a skytale relay/);
    expect(finding(run, "relay key")).toContain(`SKYTALE_RELAY_KEY=${Buffer.from(relay.key).toString("base64url")}`);
    expect(finding(run, "link")).toMatch(/^ok +link: handshake and auth succeeded/);
    expect(run.stdout).toMatch(/no problems found/);
  });

  it("names each broken setup with a fix, and exits 1", async () => {
    const otherKey = Buffer.alloc(32, 7).toString("base64url");
    const home = tempDir("skytale-doctor-");
    const base = { SKYTALE_IDENTITY: "planner", SKYTALE_DATA_DIR: join(home, "planner") };
    const key = await identityKeyOf({ ...base, SKYTALE_RELAY: relay.url, HOME: home });
    const expired = mintToken(SECRET, "planner", key, 60, Math.floor(Date.now() / 1000) - 3600);
    // One at a time: each reads the agent's key from its data dir, which one process at a time may hold.
    const runs: CliRun[] = [];
    const setups: Record<string, string>[] = [
      {},
      { SKYTALE_IDENTITY: "../x" },
      { ...base, SKYTALE_RELAY: relay.url, SKYTALE_TOKEN: expired },
      { ...base, SKYTALE_RELAY: relay.url },
      { ...base, SKYTALE_RELAY: relay.url, SKYTALE_TOKEN: mintToken(SECRET, "planner", key, WEEK), SKYTALE_RELAY_KEY: otherKey },
      { ...base, SKYTALE_RELAY: `ws://127.0.0.1:${foreign.port}` },
      { ...base, SKYTALE_RELAY: `ws://127.0.0.1:${await freePort()}` },
      { ...base, SKYTALE_LOCAL_RELAY_PORT: String(foreign.port) },
      { ...base, SKYTALE_LOCAL_RELAY_PORT: String(await freePort()) },
    ];
    for (const env of setups) runs.push(await doctor(env));
    const [noName, badName, expiredToken, noToken, wrongKey, notARelay, nobody, portTaken, portFree] = runs as [CliRun, CliRun, CliRun, CliRun, CliRun, CliRun, CliRun, CliRun, CliRun];
    expect(finding(noName, "identity")).toMatch(/^FAIL +identity: SKYTALE_IDENTITY is not set.*\n +fix: set SKYTALE_IDENTITY/);
    expect(finding(badName, "identity")).toMatch(/^FAIL +identity: .*not a valid agent name.*\n +fix: /);
    expect(finding(expiredToken, "token")).toMatch(/^FAIL +token: SKYTALE_TOKEN expired at .*\n +fix: .*skytale-mcp token --sub planner --key did:key:z/);
    expect(finding(expiredToken, "link")).toMatch(/^FAIL +link: auth_failed: .*expired.*\n +fix: ask the relay's operator for a new token/);
    expect(finding(noToken, "link")).toMatch(/^FAIL +link: auth_failed: .*\n +fix: this relay requires a token: set SKYTALE_TOKEN/);
    expect(finding(wrongKey, "relay key")).toMatch(/^FAIL +relay key: the relay publishes .* not the key in SKYTALE_RELAY_KEY\n +fix: compare SKYTALE_RELAY_KEY/);
    expect(finding(notARelay, "relay")).toMatch(/^FAIL +relay: .* is not a skytale relay: its answer to GET \/v1\/key is not a relay key\n +fix: check SKYTALE_RELAY's host and port/);
    expect(finding(nobody, "relay")).toMatch(/^FAIL +relay: cannot reach the relay at .*ECONNREFUSED.*\n +fix: check SKYTALE_RELAY/);
    expect(finding(portTaken, "relay")).toMatch(/^FAIL +relay: 127\.0\.0\.1:\d+, the local relay's port, is held by another program.*\n +fix: .*SKYTALE_LOCAL_RELAY_PORT/);
    expect(finding(portFree, "relay")).toMatch(/^ok +relay: .*no relay runs on 127\.0\.0\.1:\d+ yet; the first agent to start hosts one there \(keeping its data in .*local-relay\)/);
    for (const run of [noName, badName, expiredToken, noToken, wrongKey, notARelay, nobody, portTaken]) {
      expect(run.code, run.stdout).toBe(1);
      expect(run.stdout).toMatch(/\d+ problems? found/);
    }
    expect(portFree.code, portFree.stdout).toBe(0);
  });

  it("finds a wrong passphrase and a data dir that belongs to another agent", async () => {
    const dataDir = join(tempDir("skytale-doctor-"), "planner");
    const env = { SKYTALE_DATA_DIR: dataDir, SKYTALE_RELAY: relay.url, HOME: tempDir("skytale-home-") };
    expect((await runCli(["key-package"], { ...env, SKYTALE_IDENTITY: "planner", SKYTALE_PASSPHRASE: "right" })).code).toBe(0);
    // One at a time: each opens the data dir, which one process at a time may hold.
    const wrongPassphrase = await doctor({ ...env, SKYTALE_IDENTITY: "planner", SKYTALE_PASSPHRASE: "wrong" });
    const otherAgent = await doctor({ ...env, SKYTALE_IDENTITY: "coder", SKYTALE_PASSPHRASE: "right" });
    const key = await identityKeyOf({ ...env, SKYTALE_IDENTITY: "planner", SKYTALE_PASSPHRASE: "right" });
    const fine = await doctor({ ...env, SKYTALE_IDENTITY: "planner", SKYTALE_PASSPHRASE: "right", SKYTALE_TOKEN: mintToken(SECRET, "planner", key, WEEK) });
    expect(finding(wrongPassphrase, "data dir")).toMatch(/^FAIL +data dir: .*SKYTALE_PASSPHRASE is wrong.*\n +fix: set the SKYTALE_PASSPHRASE this agent was created with/);
    expect(finding(otherAgent, "data dir")).toMatch(/^FAIL +data dir: .* belongs to agent 'planner', not 'coder'\n +fix: set SKYTALE_IDENTITY=planner/);
    expect(finding(fine, "data dir")).toMatch(/^ok +data dir: .*agent 'planner', key did:key:z6Mk/);
    expect(fine.code, fine.stdout).toBe(0);
  });
});
