/**
 * How tool outcomes become CallToolResults. Success: a JSON text block (for hosts that ignore
 * structured output) plus structuredContent. Expected failure: isError with "code: sentence" so
 * the model can act on it. Anything else is a bug: the model gets "internal error" and the details
 * go to stderr, since a stack or a lower layer's message is no use to the model and may say too much.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ToolContext } from "./context.js";

/** The `_meta` key under which an error result carries its stable code. */
export const ERROR_CODE_META = "skytale/code";

// Our layers' codes are lower snake case (AgentError, MlsError, TransportError, StoreError). Node's
// own codes (ENOENT, ERR_*) and SQLite's (SQLITE_*) are upper case: those are not meant for the model.
const STABLE_CODE = /^[a-z][a-z0-9_]{0,63}$/;

export function ok(data: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(data) }], structuredContent: data };
}

export function failure(code: string, sentence: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text: `${code}: ${sentence}` }], _meta: { [ERROR_CODE_META]: code } };
}

/** The stable code of an expected failure, or undefined for a bug. */
function stableCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || !("code" in error)) return undefined;
  const { code } = error;
  return typeof code === "string" && STABLE_CODE.test(code) && code !== "internal" ? code : undefined;
}

/**
 * Runs a tool's work and maps its outcome. `extra.signal` is the request's: once the host cancelled,
 * whatever the work threw is a consequence of that (the SDK drops the response anyway).
 */
export async function respond<T extends Record<string, unknown>>(
  ctx: ToolContext,
  tool: string,
  extra: { readonly signal: AbortSignal },
  work: () => Promise<T>,
): Promise<CallToolResult> {
  try {
    return ok(await work());
  } catch (error) {
    if (extra.signal.aborted) return failure("cancelled", "the host cancelled this call");
    const code = stableCode(error);
    if (code !== undefined && error instanceof Error) return failure(code, error.message);
    // Only the error itself is logged, never the tool's arguments: they may hold message text,
    // invites or key material.
    ctx.log(`skytale-mcp: ${tool} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    void ctx.server
      .sendLoggingMessage({ level: "error", logger: "skytale-mcp", data: `${tool} failed with an internal error; details are in the server's stderr` })
      .catch(() => undefined); // the host may be gone; stderr already has the details
    return failure("internal", `internal error in ${tool}; this is a bug in skytale-mcp (details are in its stderr log). Retrying is unlikely to help.`);
  }
}
