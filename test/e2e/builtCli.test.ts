// The built package as hosts run it: dist/cli.js twice over stdio, a relay as its own process that
// requires tokens, as on two machines (README: "Two agents talking, on two machines").
// `npm test` builds first (see package.json), so this runs what `npx skytale-mcp` runs.
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterEach, describe, expect, it } from "vitest";
import { mintToken } from "../../src/relay/token.js";
import { tempDir, TEST_SECRET } from "../helpers.js";
import { spawnRelay, type RelayProcess } from "../relay/relayProcess.js";
import { CLI, connectCli, identityKeyOf, type CliHost } from "./cliProcess.js";

const CHANNEL = "acme/e2e/chat";
const SECRET = TEST_SECRET;
type Structured = Record<string, unknown>;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Host {
  call(tool: string, args?: Structured): Promise<Structured>;
  errors: Error[];
  stderr: () => string;
  close(): Promise<void>;
}

/** One agent's host on its own "machine": the relay's URL and key, and a token minted for it. */
async function host(name: string, dataDir: string, relay: RelayProcess): Promise<Host> {
  const where = { SKYTALE_IDENTITY: name, SKYTALE_DATA_DIR: dataDir, SKYTALE_RELAY: relay.url, SKYTALE_RELAY_KEY: Buffer.from(relay.key).toString("base64url") };
  // The operator mints a token for the agent's name and key, which the agent shows with whoami.
  const key = await identityKeyOf({ ...where, HOME: dataDir });
  const cli: CliHost = await connectCli({
    ...where,
    SKYTALE_TOKEN: mintToken(SECRET, name, key, 3600),
    SKYTALE_COVER: "poisson",
    SKYTALE_COVER_RATE: "10",
  });
  const h: Host = {
    async call(tool, args = {}) {
      try {
        return await cli.ok(tool, args);
      } catch (error) {
        throw new Error(`${name}.${(error as Error).message}`);
      }
    },
    errors: cli.errors,
    stderr: cli.stderr,
    close: cli.close,
  };
  cleanups.push(() => h.close());
  return h;
}

describe("the built skytale-mcp over stdio", () => {
  it("two agent processes hold a conversation through a relay process; stdout carries only JSON-RPC; a restart loses and repeats nothing", async () => {
    expect(existsSync(CLI)).toBe(true);
    const relay = await spawnRelay(["--port", "0", "--data-dir", tempDir("skytale-e2e-relay-"), "--auth-secret", SECRET, "--cover", "poisson", "--cover-rate", "10"]);
    cleanups.push(async () => relay.child.kill("SIGKILL"));
    const plannerDir = tempDir("skytale-e2e-planner-");
    const coderDir = tempDir("skytale-e2e-coder-");
    const planner = await host("planner", plannerDir, relay);
    let coder = await host("coder", coderDir, relay);

    await planner.call("channel_create", { channel: CHANNEL });
    const { invite } = await planner.call("channel_invite", { channel: CHANNEL });
    expect(await coder.call("channel_join", { invite })).toMatchObject({ status: "joined", members: ["planner", "coder"] });

    const received: string[] = [];
    const drain = async (h: Host, waitMs: number) => {
      const r = await h.call("receive", { channel: CHANNEL, wait_ms: waitMs });
      received.push(...(r.messages as { message: string }[]).map((m) => m.message));
      return r;
    };
    await planner.call("send", { channel: CHANNEL, message: "one" });
    await drain(coder, 5000);
    await coder.close(); // the host restarts the coder's process
    await planner.call("send", { channel: CHANNEL, message: "two" });
    await planner.call("send", { channel: CHANNEL, message: "three" });
    coder = await host("coder", coderDir, relay);
    while (received.length < 3) {
      const r = await drain(coder, 5000);
      if (r.timed_out) break;
    }
    expect((await drain(coder, 300)).timed_out).toBe(true);
    expect(received).toEqual(["one", "two", "three"]);

    await coder.call("send", { channel: CHANNEL, message: "reply" });
    const back = await planner.call("receive", { channel: CHANNEL, wait_ms: 5000 });
    expect(back.messages).toMatchObject([{ sender: "coder", message: "reply" }]);
    expect(planner.errors).toEqual([]);
    expect(coder.errors).toEqual([]);
    expect(planner.stderr()).not.toContain("reply");
  });

  it("refuses to start without SKYTALE_IDENTITY, with a clear message on stderr", async () => {
    const child = spawn(process.execPath, [CLI], { env: { ...getDefaultEnvironment() }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).not.toBe(0);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/SKYTALE_IDENTITY is not set/);
  });

  it("a damaged database stops it at once with one clear line, not a crash or a restart loop", async () => {
    const dataDir = tempDir("skytale-corrupt-");
    writeFileSync(join(dataDir, "skytale.db"), Buffer.alloc(8192, 0x5a));
    const child = spawn(process.execPath, [CLI], {
      env: { ...getDefaultEnvironment(), SKYTALE_IDENTITY: "damaged", SKYTALE_DATA_DIR: dataDir, SKYTALE_RELAY: "ws://127.0.0.1:9" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toEqual([expect.stringMatching(/^skytale-mcp: corrupt: cannot open the database .*restore it from a backup/)]);
  });
});
