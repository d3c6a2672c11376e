/**
 * The link protocol revision each side speaks, announced in the WebSocket upgrade (a request header
 * from the client, a response header from the relay). A peer that announces nothing speaks
 * revision 1.
 *
 * 1: one envelope per frame, one Ack per request.
 * 2: adds Acks (0x07), one frame acknowledging several requests, and frames of several pieces
 *    (LinkCodec.sealAll).
 * 3: agents are their identity keys: Auth proves the key, inboxes, the
 *    directory and Welcome recipients are keyed by it, channels are opened by their creator.
 *    Nothing below it can be spoken with: its agents and relays would trust names.
 */
export const LINK_REVISION_HEADER = "x-skytale-link";
export const LINK_REVISION = 3;
/** The oldest revision either side talks to. */
export const MIN_LINK_REVISION = 3;

/** The revision to speak with a peer that announced `value` (the header as node parsed it). */
export function peerRevision(value: string | string[] | undefined): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[1-9][0-9]{0,5}$/.test(text.trim())) return 1;
  return Math.min(Number(text.trim()), LINK_REVISION);
}
