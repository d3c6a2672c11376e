// What users install (issue 14): the package is publish-ready, and installed the ways the README
// gives for today (npm install -g of the packed tarball or of the checkout, node /abs/path/dist/cli.js
// in a host config) it starts as a host starts it; the MCP Inspector's CLI drives the packed server.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");
const INSPECTOR = join(ROOT, "node_modules/.bin/mcp-inspector");
const TOOLS = [
  "channel_add_member", "channel_create", "channel_invite", "channel_join", "channel_leave", "channel_list",
  "channel_members", "channel_remove_member", "channel_rotate_keys", "contact_add", "contact_list", "contact_remove", "key_package",
  "offer_answer", "offer_list", "receive", "send", "whoami",
];

interface PackageJson {
  name: string;
  version: string;
  license: string;
  mcpName?: string;
  repository?: { url: string };
  homepage?: string;
  bugs?: { url: string };
  bin: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;

/** Starts `command` as a host would, with only the env a host passes, and returns its tool names and whoami. */
async function hostStart(command: string, args: string[], env: Record<string, string>): Promise<{ tools: string[]; me: unknown }> {
  const client = new Client({ name: "pack-host", version: "0" });
  await client.connect(new StdioClientTransport({ command, args, env: { ...getDefaultEnvironment(), ...env }, stderr: "pipe" }));
  try {
    const { tools } = await client.listTools();
    const me = (await client.callTool({ name: "whoami", arguments: {} })).structuredContent;
    return { tools: tools.map((t) => t.name).sort(), me };
  } finally {
    await client.close();
  }
}

describe("the npm package", () => {
  it("is publish-ready: a LICENSE, where its source and issues live, the MCP registry's name and server.json, no source maps", async () => {
    expect(pkg.license).toBe("Apache-2.0");
    expect(readFileSync(join(ROOT, "LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    const repo = pkg.repository?.url.replace(/^git\+/, "").replace(/\.git$/, "");
    expect(repo).toMatch(/^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/);
    expect(pkg.homepage).toContain(repo!);
    expect(pkg.bugs?.url).toBe(`${repo}/issues`);
    // The registry checks that a GitHub namespace is the repository's owner.
    const owner = new URL(repo!).pathname.split("/")[1];
    expect(pkg.mcpName).toBe(`io.github.${owner}/${pkg.name}`);

    const server = JSON.parse(readFileSync(join(ROOT, "server.json"), "utf8")) as {
      $schema: string; name: string; description: string; version: string; repository: { url: string; source: string };
      packages: { registryType: string; identifier: string; version: string; transport: { type: string }; environmentVariables: { name: string; isRequired?: boolean }[] }[];
    };
    expect(server.$schema).toMatch(/^https:\/\/static\.modelcontextprotocol\.io\/schemas\/\d{4}-\d{2}-\d{2}\/server\.schema\.json$/);
    expect(server.name).toBe(pkg.mcpName);
    expect(server.name).toMatch(/^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/);
    expect(server.description.length).toBeLessThanOrEqual(100);
    expect(server.version).toBe(pkg.version);
    expect(server.repository).toEqual({ url: repo, source: "github" });
    expect(server.packages).toHaveLength(1);
    const [npm] = server.packages;
    expect(npm).toMatchObject({ registryType: "npm", identifier: pkg.name, version: pkg.version, transport: { type: "stdio" } });
    expect(npm?.environmentVariables.filter((v) => v.isRequired).map((v) => v.name)).toEqual(["SKYTALE_IDENTITY"]);

    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, maxBuffer: 1 << 24 });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["LICENSE", "README.md", "package.json", "dist/cli.js", "dist/index.js", "dist/index.d.ts"]));
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(files.filter((f) => !f.startsWith("dist/") && !["LICENSE", "README.md", "package.json"].includes(f))).toEqual([]);
  });

  it("installed with npm install -g from the tarball and from the checkout, starts as a host starts it; the Inspector CLI drives it", { timeout: 300_000 }, async () => {
    const dir = tempDir("skytale-pack-");
    // npm test built dist already; packing must not rebuild it under the other e2e tests' feet.
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir, "--silent"], { cwd: ROOT });
    const tarball = join(dir, stdout.trim().split("\n").at(-1)!);
    const prefix = join(dir, "global");
    await run("npm", ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: dir, maxBuffer: 1 << 24 });
    const bin = join(prefix, "bin", "skytale-mcp");
    const installedCli = join(prefix, "lib", "node_modules", "skytale-mcp", "dist", "cli.js");
    expect(existsSync(bin) && existsSync(installedCli)).toBe(true);

    const env = {
      HOME: join(dir, "home"),
      SKYTALE_IDENTITY: "packed",
      SKYTALE_RELAY: "ws://127.0.0.1:9", // nothing listens: the server must start anyway
      SKYTALE_COVER: "off",
    };
    // The bin on PATH, as a host config's "command": "skytale-mcp" finds it.
    const viaBin = await hostStart(bin, [], env);
    expect(viaBin.tools).toEqual(TOOLS);
    expect(viaBin.me).toMatchObject({ identity: "packed", relay: { url: "ws://127.0.0.1:9", connected: false } });
    // "command": "node", "args": ["/abs/path/dist/cli.js"].
    expect((await hostStart(process.execPath, [installedCli], env)).tools).toEqual(TOOLS);
    expect((await run(bin, ["version"], { env: { ...getDefaultEnvironment(), ...env } })).stdout.trim()).toBe(pkg.version);

    // The MCP Inspector's CLI (a devDependency, installed by npm ci) against the packed server.
    const inspect = async (...args: string[]) => {
      const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
      const out = await run(INSPECTOR, ["--cli", ...envArgs, bin, ...args], { cwd: dir, maxBuffer: 1 << 24, timeout: 60_000 });
      return JSON.parse(out.stdout) as Record<string, unknown>;
    };
    const listed = (await inspect("--method", "tools/list")) as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name).sort()).toEqual(TOOLS);
    expect(await inspect("--method", "tools/call", "--tool-name", "whoami")).toMatchObject({ structuredContent: { identity: "packed" } });
    const bad = (await inspect("--method", "tools/call", "--tool-name", "send", "--tool-arg", "channel=Bad")) as { isError: boolean; content: { text: string }[] };
    expect(bad.isError).toBe(true);
    expect(bad.content[0]?.text).toMatch(/^bad_request: invalid arguments for send: channel names are .*; message is required$/);
    const prompts = (await inspect("--method", "prompts/list")) as { prompts: { name: string }[] };
    expect(prompts.prompts.map((p) => p.name).sort()).toEqual(["join_channel", "start_channel"]);

    // npm install -g of the checkout links it: the same command, running this tree's dist.
    const linked = join(dir, "linked");
    await run("npm", ["install", "-g", "--prefix", linked, "--ignore-scripts", "--no-audit", "--no-fund", ROOT], { cwd: dir, maxBuffer: 1 << 24 });
    expect((await hostStart(join(linked, "bin", "skytale-mcp"), [], env)).tools).toEqual(TOOLS);
  });
});
