import {
  defaultKeyPackageEqualityConfig,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientConfig,
  type CryptoProvider,
} from "ts-mls";
import { bindingAuthService } from "./authService.js";
import { nodeCryptoProvider } from "./crypto/nodeProvider.js";

/** The one cipher suite skytale speaks (0x0001). */
export const CIPHER_SUITE: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

/** The suites our node:crypto provider implements (0x0001 and 0x0003), all a key package may advertise. */
export const SUPPORTED_SUITES: CiphersuiteName[] = ["MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"];

/** Key packages live 30 days; assertKeyPackageLive refuses longer ones from others. */
export const KEY_PACKAGE_LIFETIME_SECONDS = 30 * 24 * 3600;

/** The suite implementation on our node:crypto provider (or another, for benchmarks and tests). */
export function loadCiphersuite(provider: CryptoProvider = nodeCryptoProvider): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(CIPHER_SUITE), provider);
}

/**
 * Client config re-attached to every decoded state (ts-mls does not serialise it).
 * - retainKeysForEpochs 2: late messages of the previous epoch still open; 0 would keep all (bug).
 * - padding off here: padding.ts pads to wire buckets, which needs the final length.
 * - lifetimes: we check a key package before adding it (assertKeyPackageLive; ts-mls 1.6.4 ignores
 *   maximumTotalLifetime). Trees are not checked on receive: a never-updated leaf keeps its key
 *   package lifetime and would make a whole group unjoinable once it expires.
 */
export const clientConfig: ClientConfig = {
  keyRetentionConfig: { retainKeysForGenerations: 32, retainKeysForEpochs: 2, maximumForwardRatchetSteps: 1000 },
  lifetimeConfig: { maximumTotalLifetime: BigInt(KEY_PACKAGE_LIFETIME_SECONDS + 3600), validateLifetimeOnReceive: false },
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: { kind: "padUntilLength", padUntilLength: 0 },
  authService: bindingAuthService,
};
