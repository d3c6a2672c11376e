// Every tool, fed bad input: each call must come back as an isError result whose text tells the
// model what to fix, and the server must keep working afterwards.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODE_META } from "../../src/mcp/results.js";
import { connectHost, textOf, type Host } from "./harness.js";
import { MemoryNetwork, MemoryService } from "./memoryService.js";

const CHANNEL = "acme/research/planning";
const UNKNOWN = "nope/nope/nope";

interface Field {
  readonly name: string;
  readonly kind: "string" | "integer";
  readonly required: boolean;
  /** Longest string, or largest integer, accepted. */
  readonly max: number;
}

const channel: Field = { name: "channel", kind: "string", required: true, max: 203 };
const optionalChannel: Field = { ...channel, required: false };

/** Per tool: arguments that pass validation, and the fields to break one by one. */
const TOOLS: Record<string, { base: Record<string, unknown>; fields: Field[] }> = {
  channel_create: { base: { channel: "acme/research/new" }, fields: [channel] },
  channel_invite: {
    base: { channel: CHANNEL, max_uses: 2, ttl_seconds: 600 },
    fields: [channel, { name: "max_uses", kind: "integer", required: false, max: 1000 }, { name: "ttl_seconds", kind: "integer", required: false, max: 30 * 24 * 3600 }],
  },
  channel_join: {
    base: { invite: "skinv1.unknown" },
    fields: [{ name: "invite", kind: "string", required: false, max: 4096 }],
  },
  key_package: { base: {}, fields: [] },
  channel_add_member: {
    base: { channel: CHANNEL, agent: "coder" },
    fields: [channel, { name: "agent", kind: "string", required: false, max: 64 }],
  },
  send: { base: { channel: CHANNEL, message: "hello" }, fields: [channel, { name: "message", kind: "string", required: true, max: 65536 }] },
  receive: {
    base: { channel: CHANNEL, wait_ms: 0, max_messages: 5 },
    fields: [optionalChannel, { name: "wait_ms", kind: "integer", required: false, max: 25000 }, { name: "max_messages", kind: "integer", required: false, max: 1000 }],
  },
  channel_list: { base: {}, fields: [] },
  channel_members: { base: { channel: CHANNEL }, fields: [channel] },
  channel_leave: { base: { channel: CHANNEL }, fields: [channel] },
  channel_remove_member: {
    base: { channel: CHANNEL, member: "coder" },
    fields: [channel, { name: "member", kind: "string", required: true, max: 64 }],
  },
  channel_rotate_keys: { base: { channel: CHANNEL }, fields: [channel] },
  whoami: { base: {}, fields: [] },
  contact_list: { base: {}, fields: [] },
  contact_add: {
    base: { name: "coder", did: "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp" },
    fields: [{ name: "name", kind: "string", required: true, max: 64 }, { name: "did", kind: "string", required: false, max: 64 }],
  },
  contact_remove: { base: { name: "coder" }, fields: [{ name: "name", kind: "string", required: true, max: 64 }] },
  offer_list: { base: {}, fields: [] },
  offer_answer: { base: { offer: "ab", accept: false }, fields: [{ name: "offer", kind: "string", required: true, max: 64 }] },
};

type Case = readonly [label: string, tool: string, args: Record<string, unknown>, expected: RegExp];

function generatedCases(): Case[] {
  const cases: Case[] = [];
  for (const [tool, { base, fields }] of Object.entries(TOOLS)) {
    cases.push([`unknown key`, tool, { ...base, bogus: true }, /Unrecognized key: "bogus"/]);
    cases.push([`arguments not an object`, tool, { ...base, [fields[0]?.name ?? "x"]: [1, 2] }, /must be a string|whole number|Unrecognized key/]);
    for (const field of fields) {
      const without = { ...base };
      delete without[field.name];
      if (field.required) cases.push([`missing ${field.name}`, tool, without, new RegExp(`${field.name} is required`)]);
      if (field.kind === "string") {
        cases.push([`${field.name} not a string`, tool, { ...base, [field.name]: 12345 }, new RegExp(`${field.name} must be a string`)]);
        cases.push([`${field.name} null`, tool, { ...base, [field.name]: null }, new RegExp(`${field.name} must be a string`)]);
        cases.push([`${field.name} too long`, tool, { ...base, [field.name]: "a".repeat(field.max + 1) }, new RegExp(`${field.name} is at most ${field.max}`)]);
      } else {
        const range = new RegExp(`${field.name} must be a whole number of .* to ${field.max}`);
        cases.push([`${field.name} a string`, tool, { ...base, [field.name]: "10" }, range]);
        cases.push([`${field.name} fractional`, tool, { ...base, [field.name]: 1.5 }, range]);
        cases.push([`${field.name} negative`, tool, { ...base, [field.name]: -1 }, range]);
        cases.push([`${field.name} too big`, tool, { ...base, [field.name]: field.max + 1 }, range]);
      }
    }
    if (fields.some((f) => f.name === "channel")) {
      for (const bad of ["Acme/research/planning", "acme/research", "acme//planning", "acme/research/planning/x", "../../etc/passwd", "acme/re search/x", "-acme/x/y", ""]) {
        cases.push([`channel '${bad}'`, tool, { ...base, channel: bad }, /org\/namespace\/service/]);
      }
      if (tool !== "channel_create") cases.push([`unknown channel`, tool, { ...base, channel: UNKNOWN }, /^not_found: no channel 'nope\/nope\/nope'/]);
    }
  }
  return cases;
}

const SPECIFIC: Case[] = [
  ["existing channel", "channel_create", { channel: CHANNEL }, /^already_exists: /],
  ["max_uses 0", "channel_invite", { channel: CHANNEL, max_uses: 0 }, /max_uses must be a whole number of joins from 1 to 1000/],
  ["ttl below a minute", "channel_invite", { channel: CHANNEL, ttl_seconds: 5 }, /ttl_seconds must be a whole number of seconds from 60/],
  ["nothing", "channel_join", {}, /give either invite \(from channel_invite\), or channel and welcome/],
  ["invite and welcome", "channel_join", { invite: "x", channel: CHANNEL, welcome: "AAAA" }, /not both/],
  ["channel without welcome", "channel_join", { channel: CHANNEL }, /needs both channel and welcome/],
  ["welcome without channel", "channel_join", { welcome: "AAAA" }, /needs both channel and welcome/],
  ["wait_ms with a welcome", "channel_join", { channel: CHANNEL, welcome: "AAAA", wait_ms: 10 }, /wait_ms applies only to joining with an invite/],
  ["invite with spaces", "channel_join", { invite: "skinv1 abc" }, /spaces or non-ASCII/],
  ["empty invite", "channel_join", { invite: "" }, /invite is empty/],
  ["unknown invite", "channel_join", { invite: "skinv1.unknown" }, /^invite_invalid: /],
  ["welcome not base64url", "channel_join", { channel: CHANNEL, welcome: "not base64!" }, /welcome must be base64url/],
  ["welcome with padding", "channel_join", { channel: CHANNEL, welcome: "AAA=" }, /welcome must be base64url/],
  ["truncated welcome", "channel_join", { channel: CHANNEL, welcome: "AAAAA" }, /welcome is truncated/],
  ["welcome for someone else", "channel_join", { channel: CHANNEL, welcome: "AAAAAAAA" }, /^bad_request: /],
  ["welcome too long", "channel_join", { channel: CHANNEL, welcome: "A".repeat(1_398_103) }, /welcome is at most 1398102 characters/],
  ["bad channel with welcome", "channel_join", { channel: "Bad", welcome: "AAAA" }, /org\/namespace\/service/],
  ["both key_package and agent", "channel_add_member", { channel: CHANNEL, agent: "coder", key_package: "AAAA" }, /exactly one of key_package .* or agent/],
  ["neither key_package nor agent", "channel_add_member", { channel: CHANNEL }, /exactly one of key_package .* or agent/],
  ["agent name with spaces", "channel_add_member", { channel: CHANNEL, agent: "bad name" }, /agent must be a contact's name .* or a did:key/],
  ["a did:key that is not one", "contact_add", { name: "coder", did: "did:web:example.com" }, /did must be a did:key/],
  ["both did and safety code", "contact_add", { name: "coder", did: "did:key:z6Mk", safety_code: "1".repeat(20) }, /exactly one of did or safety_code/],
  ["a safety code too short", "contact_add", { name: "coder", safety_code: "12345" }, /safety_code is 20 digits/],
  ["an offer that is not hex", "offer_answer", { offer: "not hex", accept: true }, /offer is the id offer_list shows/],
  ["unknown agent", "channel_add_member", { channel: CHANNEL, agent: "ghost" }, /^not_found: no key package for agent 'ghost'/],
  ["unknown key package", "channel_add_member", { channel: CHANNEL, key_package: "AAAAAAAA" }, /^bad_request: /],
  ["key_package too long", "channel_add_member", { channel: CHANNEL, key_package: "A".repeat(30_000) }, /key_package is at most 21846 characters/],
  ["empty message", "send", { channel: CHANNEL, message: "" }, /message is empty/],
  ["message over 64 KiB of UTF-8", "send", { channel: CHANNEL, message: "é".repeat(40_000) }, /message is at most 65536 bytes of UTF-8; split it/],
  ["wait_ms above the cap", "receive", { wait_ms: 60_000 }, /wait_ms must be a whole number of milliseconds from 0 to 25000/],
  ["max_messages 0", "receive", { max_messages: 0 }, /max_messages must be a whole number of messages from 1 to 1000/],
  ["member not in channel", "channel_remove_member", { channel: CHANNEL, member: "stranger" }, /^not_found: 'stranger' is not a member/],
  ["removing oneself", "channel_remove_member", { channel: CHANNEL, member: "planner" }, /^bad_request: to remove yourself, use channel_leave/],
  ["member name invalid", "channel_remove_member", { channel: CHANNEL, member: "@@" }, /member must be an agent name/],
  ["unknown tool", "channel_delete", { channel: CHANNEL }, /^not_found: no tool named 'channel_delete'/],
  ["schema failures of two fields", "send", { channel: "Bad" }, /^bad_request: invalid arguments for send: channel names are org\/namespace\/service.*; message is required$/],
];

describe("bad input to every tool", () => {
  let host: Host;
  beforeAll(async () => {
    const network = new MemoryNetwork();
    new MemoryService("coder", network);
    const planner = new MemoryService("planner", network);
    await planner.createChannel(CHANNEL);
    host = await connectHost(planner);
  });
  afterAll(() => host.close());

  const cases = [...generatedCases(), ...SPECIFIC];

  it("covers every tool", () => {
    const tools = new Set(cases.map(([, tool]) => tool));
    for (const tool of Object.keys(TOOLS)) expect(tools.has(tool), tool).toBe(true);
  });

  it.each(cases)("%s → %s is an isError result that says what is wrong", async (_label, tool, args, expected) => {
    const result = await host.call(tool, args);
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    const text = textOf(result);
    expect(text).toMatch(expected);
    expect(text).not.toMatch(/internal error/);
    // Every failure, the SDK's schema checks included, starts with a stable code that _meta carries too.
    const code = /^([a-z_]+): /.exec(text)?.[1];
    expect(code, text).toBeDefined();
    expect(result._meta?.[ERROR_CODE_META]).toBe(code);
    expect(text).not.toMatch(/MCP error|-32602/);
    expect(host.logs).toEqual([]);
  });

  it("still serves after all of that", async () => {
    const result = await host.call("whoami");
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ identity: "planner" });
  });
});
