// The first hour of a new user (issue 14), through the built command: the local relay's port and
// where state goes, a refused agent name, and what the command says about itself.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, describe, expect, it } from "vitest";
import { eventually, skytaleVariablesInSource, tempDir } from "../helpers.js";
import { CLI, connectCli, foreignHttpServer, freePort, resultText, runCli, type CliHost } from "./cliProcess.js";

const CHANNEL = "acme/first/contact";
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function host(env: Record<string, string>): Promise<CliHost> {
  const h = await connectCli({ SKYTALE_COVER: "off", ...env });
  cleanups.push(() => h.close());
  return h;
}

/** Every file and dir under `dir`, relative. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("the local relay's port", () => {
  it("another program's web server on it is named at once in the log, by whoami and by send, which do not wait; once it leaves, an agent takes over", async () => {
    const foreign = await foreignHttpServer();
    cleanups.push(() => foreign.close());
    const home = tempDir("skytale-home-");
    const planner = await host({ HOME: home, SKYTALE_IDENTITY: "planner", SKYTALE_DATA_DIR: join(home, "planner"), SKYTALE_LOCAL_RELAY_PORT: String(foreign.port) });

    await eventually(() => /not a skytale relay/.test(planner.stderr()));
    const line = planner.stderr().split("\n").find((l) => l.includes("not a skytale relay"))!;
    expect(line).toContain(`127.0.0.1:${foreign.port}`);
    expect(line).toContain("SKYTALE_LOCAL_RELAY_PORT");

    const me = await planner.ok("whoami");
    expect(me.relay).toMatchObject({ url: `ws://127.0.0.1:${foreign.port}`, connected: false, problem: expect.stringMatching(/^relay_unreachable: .*not a skytale relay/) });

    await planner.ok("channel_create", { channel: CHANNEL }); // local: works without a relay
    const sent = await planner.call("send", { channel: CHANNEL, message: "hello?" });
    expect(sent.isError).toBe(true);
    expect(resultText(sent)).toMatch(/^relay_unreachable: .*not a skytale relay.*SKYTALE_LOCAL_RELAY_PORT/);
    expect(resultText(sent)).not.toMatch(/queued/);

    await foreign.close(); // the other program stops: the port is free, and the agent hosts the relay there
    await eventually(async () => ((await planner.ok("whoami")).relay as { connected: boolean }).connected);
    expect((await planner.ok("whoami")).relay).not.toHaveProperty("problem");
    expect(await planner.ok("send", { channel: CHANNEL, message: "now it goes" })).toMatchObject({ channel: CHANNEL });
    expect(planner.errors).toEqual([]);
  });
});

describe("state stays in the configured dirs", () => {
  it("with SKYTALE_DATA_DIR, the local relay keeps its key and archive under it, and nothing is written to ~/.skytale", async () => {
    const home = tempDir("skytale-home-");
    const dataDir = join(tempDir("skytale-data-"), "coder");
    const coder = await host({ HOME: home, SKYTALE_IDENTITY: "coder", SKYTALE_DATA_DIR: dataDir, SKYTALE_LOCAL_RELAY_PORT: String(await freePort()) });
    await eventually(async () => ((await coder.ok("whoami")).relay as { connected: boolean }).connected);
    expect(tree(dataDir)).toEqual(expect.arrayContaining(["skytale.db", "local-relay", join("local-relay", "relay.key"), join("local-relay", "relay.db")]));
    expect(tree(home)).toEqual([]);
  });

  it("with SKYTALE_HOME, two agents on one machine get <home>/<name> and share the local relay in <home>/relay", async () => {
    const home = tempDir("skytale-home-");
    const skytaleHome = join(tempDir("skytale-root-"), "skytale");
    const env = { HOME: home, SKYTALE_HOME: skytaleHome, SKYTALE_LOCAL_RELAY_PORT: String(await freePort()) };
    const planner = await host({ ...env, SKYTALE_IDENTITY: "planner" });
    const coder = await host({ ...env, SKYTALE_IDENTITY: "coder" });
    await planner.ok("channel_create", { channel: CHANNEL });
    const { invite } = await planner.ok("channel_invite", { channel: CHANNEL });
    expect(await coder.ok("channel_join", { invite })).toMatchObject({ status: "joined" });
    await coder.ok("send", { channel: CHANNEL, message: "hi planner" });
    expect((await planner.ok("receive", { channel: CHANNEL, wait_ms: 10_000 })).messages).toMatchObject([{ sender: "coder", message: "hi planner" }]);
    expect(readdirSync(skytaleHome).sort()).toEqual(["coder", "planner", "relay"]);
    expect(tree(home)).toEqual([]);
  });

  it.each([
    ["../../x", "a path"],
    [".hidden", "a leading dot"],
  ])("a refused SKYTALE_IDENTITY (%s: %s) creates nothing and changes no mode, as server or as whoami", async (name) => {
    const home = tempDir("skytale-home-");
    const existing = join(home, "mine");
    mkdirSync(existing, { mode: 0o755 });
    const envs: Record<string, string>[] = [{ HOME: home }, { HOME: home, SKYTALE_DATA_DIR: existing }];
    for (const env of envs) {
      for (const args of [[], ["whoami"]]) {
        const run = await runCli(args, { ...env, SKYTALE_IDENTITY: name, SKYTALE_RELAY: "ws://127.0.0.1:9", SKYTALE_COVER: "off" });
        expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(2);
        expect(run.stdout).toBe("");
        expect(run.stderr).toMatch(/SKYTALE_IDENTITY.*agent names are 1-64 characters/);
      }
    }
    expect(tree(home)).toEqual(["mine"]);
    expect(statSync(existing).mode & 0o777).toBe(0o755);
  });
});

describe("what the command says about itself", () => {
  it("version, -V and --version print the package's version", async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };
    for (const arg of ["version", "-V", "--version"]) {
      const run = await runCli([arg]);
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toBe(version);
    }
  });

  it("help lists every command, every flag and every SKYTALE_ variable the code reads", async () => {
    const run = await runCli(["help"]);
    expect(run.code).toBe(0);
    const help = run.stdout + run.stderr;
    const source = readdirSync(join(import.meta.dirname, "../../src"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(join(import.meta.dirname, "../../src", f), "utf8"))
      .join("\n");
    const variables = skytaleVariablesInSource();
    expect(variables.size).toBeGreaterThan(10);
    for (const variable of variables) expect(help, variable).toContain(variable);
    for (const [, flag] of source.matchAll(/^\s+"?([a-z][a-z-]+)"?: \{ type: "(?:string|boolean)"/gm)) expect(help, flag).toContain(`--${flag}`);
    for (const command of ["serve", "relay", "token", "demo", "whoami", "key-package", "doctor", "version", "help"]) expect(help).toMatch(new RegExp(`^  ${command}\\b`, "m"));
  });

  it("whoami says why it is not connected; a clean exit prints no 'not reachable' line", async () => {
    const home = tempDir("skytale-home-");
    const relay = `ws://127.0.0.1:${await freePort()}`; // nothing listens there
    const env = { HOME: home, SKYTALE_IDENTITY: "planner", SKYTALE_RELAY: relay, SKYTALE_COVER: "off" };

    const cli = await runCli(["whoami"], env);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ identity: "planner", relay: { url: relay, connected: false, problem: expect.stringMatching(/^relay_unreachable: .*(ECONNREFUSED|refused)/) } });

    const planner = await host(env);
    await eventually(async () => "problem" in ((await planner.ok("whoami")).relay as object));
    expect((await planner.ok("whoami")).relay).toMatchObject({ connected: false, problem: expect.stringMatching(/^relay_unreachable: /) });
    await planner.close();
    await eventually(() => planner.stderr().includes("shutting down"));
    expect(planner.stderr()).not.toMatch(/not reachable/);
  });
});

describe("serve --http", () => {
  it("serves the agent over Streamable HTTP on loopback, refuses other addresses without a secret, and stops on SIGTERM", async () => {
    const home = tempDir("skytale-home-");
    const env = { HOME: home, SKYTALE_IDENTITY: "planner", SKYTALE_RELAY: "ws://127.0.0.1:9", SKYTALE_COVER: "off" };

    const open = await runCli(["serve", "--http", "--host", "0.0.0.0"], env);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/refusing to serve MCP on 0\.0\.0\.0 without SKYTALE_MCP_SECRET/);

    const port = await freePort();
    const child = spawn(process.execPath, [CLI, "serve", "--http", "--port", String(port)], { env: { ...getDefaultEnvironment(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    cleanups.push(async () => child.kill("SIGKILL"));
    await eventually(() => stderr.includes("serving MCP at"));
    const client = new Client({ name: "http-host", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
    expect(await client.callTool({ name: "whoami", arguments: {} })).toMatchObject({ structuredContent: { identity: "planner" } });
    await client.close();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
