// Issue 13, point 8: an agent name that would climb out of SKYTALE_HOME is refused before anything
// touches the file system: the built CLI, every command that takes the agent's name.
import { chmodSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { freePort, runCli } from "./cliProcess.js";

/** Every path under `root` (itself included) with its type and mode. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string) => {
    const stat = lstatSync(path);
    out.set(relative(root, path) || ".", `${stat.isDirectory() ? "dir" : "file"} ${(stat.mode & 0o7777).toString(8)}`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return out;
}

describe("SKYTALE_IDENTITY that is not an agent name", () => {
  it("every agent command fails with a clear error, and nothing is created or changed inside or outside SKYTALE_HOME", async () => {
    // root/ holds what ../../x would reach from the home, root/up/home/ is SKYTALE_HOME, HOME is root/user.
    const root = tempDir("skytale-bad-name-");
    const home = join(root, "up", "home");
    for (const dir of [home, join(root, "x"), join(root, "user")]) mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const dir of [root, join(root, "up"), home, join(root, "x"), join(root, "user")]) chmodSync(dir, 0o755);
    const before = snapshot(root);
    // A port nothing listens on, so that no command could reach another test's local relay.
    const base = { HOME: join(root, "user"), SKYTALE_HOME: home, SKYTALE_LOCAL_RELAY_PORT: String(await freePort()), SKYTALE_COVER: "off" };

    const runs = await Promise.all([
      ...[[], ["whoami"], ["key-package"]].map((command) => ({ name: "../../x", command })),
      ...["..", "a/../../x"].map((name) => ({ name, command: ["serve"] })),
    ].map(async ({ name, command }) => ({ name, command, run: await runCli(command, { ...base, SKYTALE_IDENTITY: name }) })));
    for (const { name, command, run } of runs) {
      expect({ name, command, code: run.code, stdout: run.stdout }).toEqual({ name, command, code: 2, stdout: "" });
      expect(run.stderr).toContain(`SKYTALE_IDENTITY ${JSON.stringify(name)} is not a valid agent name`);
    }
    const doctor = await runCli(["doctor"], { ...base, SKYTALE_IDENTITY: "../../x" });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL +identity: .*not a valid agent name/);
    expect(snapshot(root)).toEqual(before);
  }, 30_000);
});
