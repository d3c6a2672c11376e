import type { AuthenticationService } from "ts-mls";
import { memberIdentity } from "./identity.js";

/**
 * ts-mls 1.x accepts every credential by default. Ours accepts a leaf only if its credential names
 * exactly the signature key the leaf signs with. Identity changes across updates are caught
 * separately (assertSameIdentities in members.ts): this callback does not learn which leaf it is judging.
 */
export const bindingAuthService: AuthenticationService = {
  async validateCredential(credential, signaturePublicKey) {
    return memberIdentity(credential, signaturePublicKey) !== undefined;
  },
};
