import { describe, expect, it } from "vitest";
import { SentEchoes } from "../../src/mls/sentEchoes.js";

describe("SentEchoes", () => {
  it("recognises an echo once, with its epoch, and nothing it did not send", () => {
    const echoes = new SentEchoes();
    expect(echoes.take(new Uint8Array([1]))).toBeUndefined();
    echoes.remember(new Uint8Array([1, 2]), 3n);
    expect(echoes.take(new Uint8Array([9]))).toBeUndefined();
    expect(echoes.take(new Uint8Array([1, 2]))).toBe(3n);
    expect(echoes.take(new Uint8Array([1, 2]))).toBeUndefined();
  });

  it("is bounded: the oldest of 4,097 is forgotten (its echo then takes the decrypting path)", () => {
    const echoes = new SentEchoes();
    const message = (i: number) => new Uint8Array(new Uint32Array([i]).buffer);
    for (let i = 0; i <= 4096; i++) echoes.remember(message(i), 1n);
    expect(echoes.take(message(0))).toBeUndefined();
    expect(echoes.take(message(1))).toBe(1n);
    expect(echoes.take(message(4096))).toBe(1n);
  });
});
