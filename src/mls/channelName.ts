import { MlsError } from "./errors.js";

const SEGMENT = "[a-z0-9][a-z0-9._-]{0,63}";
/** org/namespace/service, each part lowercase letters, digits, '.', '_' or '-'. */
export const CHANNEL_NAME = new RegExp(`^${SEGMENT}/${SEGMENT}/${SEGMENT}$`);

/** Throws bad_request unless `name` is org/namespace/service: lowercase letters, digits, '.', '_', '-'. */
export function assertChannelName(name: string): void {
  if (!CHANNEL_NAME.test(name)) {
    throw new MlsError(
      "bad_request",
      "channel names are org/namespace/service: three lowercase parts of letters, digits, '.', '_' or '-' (e.g. acme/research/planning)",
    );
  }
}
