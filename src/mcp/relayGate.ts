import { AgentError } from "../agent/types.js";
import type { ToolContext } from "./context.js";

/**
 * Refuses a call that needs the relay before anything is built or stored, while the relay cannot
 * be used until the user changes something (RelayStatus.problem.lasting: another program on the
 * local relay's port, a refused token, a changed relay key). Otherwise the call would wait for its
 * timeout and then say only that the relay did not answer.
 */
export function requireRelay(ctx: ToolContext): void {
  const { problem } = ctx.service.relayStatus();
  if (problem?.lasting === true) throw new AgentError(problem.code, problem.message);
}
