import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": ["error", { allow: ["error", "warn"] }],
      // Node 20 can deadlock exporting a key these made (src/mls/crypto/keys.ts, freshKey).
      "no-restricted-imports": ["error", ...["node:crypto", "crypto"].map((name) => ({
        name,
        importNames: ["generateKeyPair", "generateKeyPairSync"],
        message: "can deadlock node 20 against the garbage collector; use freshKey (src/mls/crypto/keys.ts)",
      }))],
      "no-restricted-properties": ["error", ...[
        { property: "generateKeyPairSync" },
        { object: "crypto", property: "generateKeyPair" },
        { object: "nodeCrypto", property: "generateKeyPair" },
        { object: "subtle", property: "generateKey" },
      ].map((rule) => ({ ...rule, message: "can deadlock node 20 against the garbage collector; use freshKey (src/mls/crypto/keys.ts)" }))],
    },
  },
  {
    files: ["src/cli.ts", "bench/**", "scripts/**"],
    rules: { "no-console": "off" },
  },
);
