import { MlsError } from "../mls/errors.js";
import { NOT_TAKEN_CODES, TransportError } from "../transport/errors.js";
import { toAgentError } from "./errors.js";
import { AgentError } from "./types.js";

/** relay_unreachable errors that told the caller its request is queued. */
const queuedErrors = new WeakSet<AgentError>();

function queuedError(message: string, cause?: TransportError): AgentError {
  const error = new AgentError("relay_unreachable", message, cause === undefined ? undefined : { cause });
  queuedErrors.add(error);
  return error;
}

/**
 * The relay's answer to a request, or after `ms` a relay_unreachable error that says the request
 * is queued (`queuedHint`), because the relay client keeps it and sends it when it can.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, queuedHint: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(queuedError(`the relay did not answer in ${ms / 1000} s; ${queuedHint}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (error) {
    if (!(error instanceof TransportError)) throw error;
    // Only a request the relay client kept (a link that may come back) is "queued"; a refused
    // token, a changed key, a full request queue or a closed client did not keep it.
    const mapped = toAgentError(error);
    if (mapped.code !== "relay_unreachable" || NOT_TAKEN_CODES.has(error.code)) throw mapped;
    throw queuedError(`${error.message}; ${queuedHint}`, error);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `error` told its caller that the request stays queued with the relay client. */
export function isQueued(error: unknown): boolean {
  return error instanceof AgentError && queuedErrors.has(error);
}

/** The relay's error code behind an AgentError that a relay refusal became, if any. */
export function relayCodeOf(error: unknown): string | undefined {
  const cause = error instanceof AgentError ? error.cause : error;
  return cause instanceof TransportError ? cause.relayCode : undefined;
}

/** Swallows an MlsError with `code`; anything else is thrown again. */
export function ignoreCode(error: unknown, code: string): void {
  if (!(error instanceof MlsError) || error.code !== code) throw error;
}
