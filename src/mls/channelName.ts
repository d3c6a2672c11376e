import { MlsError } from "./errors.js";

const SEGMENT = "[a-z0-9][a-z0-9._-]{0,63}";
/** org/namespace/service, each part lowercase letters, digits, '.', '_' or '-'. */
export const CHANNEL_NAME = new RegExp(`^${SEGMENT}/${SEGMENT}/${SEGMENT}$`);

/**
 * How an agent names one of its channels: the channel's name, or, when it holds another channel of
 * that name already (names are labels anyone can pick), the name with '#' and the first eight hex
 * digits of the group id. Inside an agent, channels are told apart by group id.
 */
export const CHANNEL_HANDLE = new RegExp(`^${SEGMENT}/${SEGMENT}/${SEGMENT}(#[0-9a-f]{8})?$`);

/** The handle a second channel of `name` gets (the first keeps the bare name). */
export function suffixedHandle(name: string, groupId: Uint8Array): string {
  return `${name}#${Buffer.from(groupId).toString("hex").slice(0, 8)}`;
}

/** The channel name a handle stands for. */
export function nameOfHandle(handle: string): string {
  const hash = handle.indexOf("#");
  return hash < 0 ? handle : handle.slice(0, hash);
}

/** Throws bad_request unless `name` is org/namespace/service: lowercase letters, digits, '.', '_', '-'. */
export function assertChannelName(name: string): void {
  if (!CHANNEL_NAME.test(name)) {
    throw new MlsError(
      "bad_request",
      "channel names are org/namespace/service: three lowercase parts of letters, digits, '.', '_' or '-' (e.g. acme/research/planning)",
    );
  }
}
