/**
 * The link protocol revision each side speaks, announced in the WebSocket upgrade (a request header
 * from the client, a response header from the relay). A peer that announces nothing speaks
 * revision 1.
 *
 * 1: one envelope per frame, one Ack per request.
 * 2: adds Acks (0x07), one frame acknowledging several requests, and frames of several pieces
 *    (LinkCodec.sealAll).
 * 3: agents are their identity keys: Auth proves the key, inboxes, the directory and Welcome
 *    recipients are keyed by it, channels are opened by their creator. And cells (frames.ts,
 *    cells.ts): a paced link's pieces as one byte stream cut into frames of one size, so that
 *    sizes come from the schedule, not the content. A side that paces announces it
 *    (LINK_CELLS_HEADER: "1") and then sends nothing but cells.
 *    Nothing below 3 can be spoken with: its agents and relays would trust names.
 */
export const LINK_REVISION_HEADER = "x-skytale-link";
export const LINK_REVISION = 3;
/** The oldest revision either side talks to. */
export const MIN_LINK_REVISION = 3;
export const LINK_CELLS_HEADER = "x-skytale-cells";

/** Whether a peer of `revision` that announced `cells` (the header as node parsed it) sends only cells. */
export function peerSendsCells(revision: number, cells: string | string[] | undefined): boolean {
  return revision >= 3 && (Array.isArray(cells) ? cells[0] : cells)?.trim() === "1";
}

/** The revision to speak with a peer that announced `value` (the header as node parsed it). */
export function peerRevision(value: string | string[] | undefined): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[1-9][0-9]{0,5}$/.test(text.trim())) return 1;
  return Math.min(Number(text.trim()), LINK_REVISION);
}
