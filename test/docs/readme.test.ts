// The README is where a new user starts (issue 14): what it tells them to run must exist, and every
// variable the code reads must be in it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { skytaleVariablesInSource } from "../helpers.js";

const ROOT = join(import.meta.dirname, "../..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string>; bin: Record<string, string> };

describe("the README", () => {
  it("names every SKYTALE_ variable the code reads", () => {
    for (const variable of skytaleVariablesInSource()) expect(readme, variable).toContain(variable);
  });

  it("runs only npm scripts that exist, and the quick subset for everyday work", () => {
    const scripts = [...readme.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1] as string);
    expect(scripts).toContain("test:quick");
    for (const script of scripts) expect(Object.keys(pkg.scripts), script).toContain(script);
  });

  it("uses only skytale-mcp commands that exist", () => {
    const known = ["serve", "doctor", "whoami", "key-package", "relay", "token", "revoke", "demo", "version", "help"];
    // In code spans and blocks only: prose says "a skytale-mcp process".
    const used = [...readme.matchAll(/`[^`\n]*\bskytale-mcp ([a-z][a-z-]+)|^\s*(?:SKYTALE_\w+=\S+ )*skytale-mcp ([a-z][a-z-]+)/gm)].map((m) => (m[1] ?? m[2]) as string);
    expect(used.length).toBeGreaterThan(5);
    for (const command of used) expect(known, command).toContain(command);
  });

  it("mints every token for a key, and says how to check another agent's identity", () => {
    const tokens = [...readme.matchAll(/skytale-mcp token [^\n`]*/g)].map((m) => m[0]);
    expect(tokens.length).toBeGreaterThan(1);
    for (const line of tokens) expect(line, line).toMatch(/--key /);
    for (const term of ["did:key", "safety_code", "contact_add", "verified", "identity_mismatch"]) expect(readme, term).toContain(term);
  });

  it("says how to get past a slow first launch", () => {
    expect(readme).toMatch(/better-sqlite3/);
    expect(readme).toMatch(/install once beforehand/);
  });
});
