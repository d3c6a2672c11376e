// What `npx -y skytale-mcp` gets: npm pack, installed into an empty project, started through its
// bin entry, answering tools/list over stdio.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");

describe("the npm package", () => {
  it("packs, installs, and its npx entry point starts and lists the tools", { timeout: 300_000 }, async () => {
    const dir = tempDir("skytale-pack-");
    const { stdout } = await run("npm", ["pack", "--pack-destination", dir, "--silent"], { cwd: ROOT });
    const tarball = stdout.trim().split("\n").at(-1)!;
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "host", version: "1.0.0", private: true }));
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", `./${tarball}`], { cwd: dir, maxBuffer: 1 << 24 });

    const transport = new StdioClientTransport({
      command: "npx",
      args: ["--no-install", "skytale-mcp"],
      cwd: dir,
      env: {
        ...getDefaultEnvironment(),
        SKYTALE_IDENTITY: "packed",
        SKYTALE_DATA_DIR: join(dir, "data"),
        SKYTALE_RELAY: "ws://127.0.0.1:9", // nothing listens: the server must start anyway
        SKYTALE_COVER: "off",
      },
      stderr: "pipe",
    });
    const client = new Client({ name: "pack-host", version: "0" });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      "channel_add_member", "channel_create", "channel_invite", "channel_join", "channel_leave", "channel_list",
      "channel_members", "channel_remove_member", "channel_rotate_keys", "contact_add", "contact_list", "contact_remove", "key_package",
      "offer_answer", "offer_list", "receive", "send", "whoami",
    ]);
    const me = await client.callTool({ name: "whoami", arguments: {} });
    expect(me.structuredContent).toMatchObject({ identity: "packed", relay: { connected: false } });
    await client.close();
  });
});
