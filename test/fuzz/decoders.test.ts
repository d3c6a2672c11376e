// Property tests over the decoders that take input from other agents or from a host: invite
// tokens, join requests, control messages, and tool arguments. `npm test` runs a quick slice;
// `npm run soak` runs FUZZ_RUNS=100000.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeInvite, decodeJoinReply, decodeJoinRequest, encodeInvite, encodeJoinReply, encodeJoinRequest } from "../../src/agent/invites.js";
import { decodeControl, decodeText } from "../../src/agent/messageCodec.js";
import { AgentError } from "../../src/agent/types.js";
import { connectHost } from "../mcp/harness.js";
import { MemoryNetwork, MemoryService } from "../mcp/memoryService.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const validInvite = encodeInvite({
  channel: "acme/fuzz/invite",
  groupId: new Uint8Array(12).fill(1),
  relayUrl: "ws://127.0.0.1:8787",
  relayKey: new Uint8Array(32).fill(2),
  inviter: { name: "alice", key: new Uint8Array(32).fill(5) },
  id: new Uint8Array(16).fill(3),
  secret: new Uint8Array(32).fill(4),
  expiresAt: 2_000_000_000,
});

/** A string with a few characters replaced, removed or repeated. */
const mutatedString = (base: string) =>
  fc.array(fc.tuple(fc.nat({ max: base.length }), fc.integer({ min: 0, max: 2 }), fc.string({ minLength: 1, maxLength: 1 })), { minLength: 1, maxLength: 6 }).map((edits) => {
    let s = base;
    for (const [at, op, c] of edits) {
      const i = at % Math.max(1, s.length);
      s = op === 0 ? s.slice(0, i) + c + s.slice(i + 1) : op === 1 ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i) + s.slice(i, i + 8) + s.slice(i);
    }
    return s;
  });

describe("decoders never throw anything but their typed errors", () => {
  it("invite tokens: random strings and mutations of a valid one", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 600 }), mutatedString(validInvite), fc.constant(validInvite)), (token) => {
        try {
          const invite = decodeInvite(token);
          expect(invite.id.length).toBe(16);
          expect(invite.secret.length).toBe(32);
        } catch (error) {
          expect(error).toBeInstanceOf(AgentError);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("join requests, join replies and control messages never throw", () => {
    const valid = encodeJoinRequest({ inviteId: new Uint8Array(16), agent: "bob", keyPackage: new Uint8Array(300), mac: new Uint8Array(32) });
    const reply = encodeJoinReply(new Uint8Array(32), { inviteId: new Uint8Array(16), requestMac: new Uint8Array(32), reason: "used_up" });
    const mutated = (bytes: Uint8Array) => mutatedString(Buffer.from(bytes).toString()).map((s) => new Uint8Array(Buffer.from(s)));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2000 }), mutated(valid), mutated(reply)), (bytes) => {
        expect(() => decodeJoinRequest(bytes)).not.toThrow();
        expect(() => decodeJoinReply(bytes)).not.toThrow();
        expect(() => decodeControl(bytes)).not.toThrow();
        expect(() => decodeText(bytes)).not.toThrow();
      }),
      { numRuns: RUNS },
    );
  });

  it("tool arguments: any JSON for any tool gets a result, never a crash", async () => {
    const host = await connectHost(new MemoryService("planner", new MemoryNetwork()));
    const tools = (await host.client.listTools()).tools.map((t) => t.name);
    const json = fc.jsonValue({ maxDepth: 3 });
    const args = fc.oneof(
      fc.dictionary(fc.constantFrom("channel", "message", "invite", "welcome", "key_package", "agent", "member", "wait_ms", "max_messages", "max_uses", "ttl_seconds", "x"), json),
      fc.dictionary(fc.string({ maxLength: 10 }), json),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...tools), args, async (tool, input) => {
        const result = await host.call(tool, { ...input, wait_ms: 0 });
        expect(Array.isArray(result.content)).toBe(true);
      }),
      { numRuns: Math.min(RUNS, 5000) },
    );
    expect(host.logs.filter((l) => /internal/.test(l))).toEqual([]);
    await host.close();
  });
});
