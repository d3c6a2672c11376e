/**
 * Where the relay keeps what in JetStream. Every name starts with one prefix (default SKYTALE),
 * so that several relays, or tests, can share a NATS cluster:
 *
 *   PREFIX_CH  PREFIX.ch.c<channel hex>          a channel's chain of records (records.ts)
 *   PREFIX_IN  PREFIX.in.<principal>             a principal's inbox items, dense seqs by compare-and-set
 *   PREFIX_KP  PREFIX.kp.<principal>.p | .lr     single-use key packages, and the last-resort one
 *              PREFIX.kp.<name>.nm               the principal a name is bound to (its last message)
 *   PREFIX_WQ  PREFIX.wq                          Welcomes still to deliver (welcomes.ts), a work queue
 *
 * A principal (an identity key in hex) and a name are written in base64url, so that any string
 * makes one subject token; the last token keeps names apart from key packages.
 */
export interface Subjects {
  readonly streams: { readonly channels: string; readonly inboxes: string; readonly keyPackages: string; readonly welcomes: string };
  readonly allChannels: string;
  readonly allInboxes: string;
  readonly allKeyPackages: string;
  readonly welcomes: string;
  channel(channel: Uint8Array): string;
  /** The channel a channel subject names, or undefined for anything else. */
  channelOf(subject: string): Uint8Array | undefined;
  inbox(principal: string): string;
  principalOf(subject: string): string | undefined;
  keyPackages(principal: string, lastResort: boolean): string;
  name(name: string): string;
}

/** Stream names allow letters, digits, '-' and '_'; the same string begins every subject. */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export function subjectsFor(prefix: string): Subjects {
  if (!PREFIX_PATTERN.test(prefix)) throw new Error(`the NATS prefix must be 1-32 letters, digits, '-' or '_', got '${prefix}'`);
  // The 'c' keeps the token non-empty whatever the channel id is.
  const channelHead = `${prefix}.ch.c`;
  const inboxHead = `${prefix}.in.`;
  const token = (principal: string) => Buffer.from(principal, "utf8").toString("base64url");
  return {
    streams: { channels: `${prefix}_CH`, inboxes: `${prefix}_IN`, keyPackages: `${prefix}_KP`, welcomes: `${prefix}_WQ` },
    allChannels: `${prefix}.ch.*`,
    allInboxes: `${prefix}.in.*`,
    allKeyPackages: `${prefix}.kp.*.*`,
    welcomes: `${prefix}.wq`,
    channel: (channel) => channelHead + Buffer.from(channel.buffer, channel.byteOffset, channel.byteLength).toString("hex"),
    channelOf: (subject) => {
      const hex = subject.startsWith(channelHead) ? subject.slice(channelHead.length) : "";
      return subject.startsWith(channelHead) && hex.length % 2 === 0 && /^[0-9a-f]*$/.test(hex) ? new Uint8Array(Buffer.from(hex, "hex")) : undefined;
    },
    inbox: (principal) => inboxHead + token(principal),
    principalOf: (subject) => (subject.startsWith(inboxHead) ? Buffer.from(subject.slice(inboxHead.length), "base64url").toString("utf8") : undefined),
    keyPackages: (principal, lastResort) => `${prefix}.kp.${token(principal)}.${lastResort ? "lr" : "p"}`,
    name: (name) => `${prefix}.kp.${token(name)}.nm`,
  };
}
