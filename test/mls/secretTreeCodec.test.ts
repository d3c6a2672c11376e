import fc from "fast-check";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { decodeSecretTree, secretTreeEncoder as tsMlsSecretTreeEncoder, type GenerationSecret, type SecretTree } from "ts-mls/secretTree.js";
import { describe, expect, it } from "vitest";
import { secretTreeEncoder } from "../../src/mls/secretTreeCodec.js";

const ours = encode(secretTreeEncoder);
const theirs = encode(tsMlsSecretTreeEncoder);

const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });

const generationSecret: fc.Arbitrary<GenerationSecret> = fc.record({
  secret: fc.oneof(fc.constant(32), fc.nat(70)).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  generation: fc.oneof(fc.nat(40), fc.constant(0xffffffff), fc.nat(0xffffffff)),
  unusedGenerations: fc.dictionary(fc.nat(0xffffffff).map(String), bytes(40), { maxKeys: 40 }),
});

const tree: fc.Arbitrary<SecretTree> = fc.array(fc.record({ handshake: generationSecret, application: generationSecret }), { maxLength: 30 });

function same(t: SecretTree): void {
  const a = ours(t);
  expect(Buffer.from(a).equals(Buffer.from(theirs(t)))).toBe(true);
  expect(decodeSecretTree(a, 0)?.[1]).toBe(a.length);
}

describe("secretTreeEncoder (hand-made, for state encoding)", () => {
  it("gives ts-mls's exact bytes for arbitrary trees, unused generations included", () => {
    fc.assert(fc.property(tree, (t) => same(t)), { numRuns: 300, seed: 41 });
  });

  it("gives ts-mls's exact bytes across the 1-, 2- and 4-byte length prefixes", () => {
    const node = (unused: number, secretLength: number) => {
      const gs: GenerationSecret = {
        secret: new Uint8Array(secretLength).fill(7),
        generation: 3,
        unusedGenerations: Object.fromEntries(Array.from({ length: unused }, (_, i) => [i * 7, new Uint8Array(32).fill(i)])),
      };
      return { handshake: gs, application: { ...gs, generation: 9 } };
    };
    same([]);
    same([node(0, 0)]);
    same([node(0, 63), node(0, 64)]);
    same([node(1, 32)]); // 37-byte record
    same([node(2, 32)]); // 74-byte record: a 2-byte prefix
    same([node(600, 32)]); // 22 KB record: a 4-byte prefix
    same(Array.from({ length: 2047 }, () => node(0, 32))); // a 1,000-member tree: 155 KB, 4-byte prefix
  });
});
