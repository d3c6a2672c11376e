import type { BufferEncoder } from "ts-mls/codec/tlsEncoder.js";
import type { GenerationSecret, SecretTree } from "ts-mls/secretTree.js";
import { lengthPrefixSize, writeLengthPrefix } from "./tlsLength.js";

/**
 * ts-mls's secretTreeEncoder, byte for byte, written out by hand.
 *
 * A state carries the secret tree of its epoch and of each retained past epoch: at 1,000 members
 * 2,047 nodes each, about 156 KB per tree and half a megabyte per state, encoded every time a
 * state is persisted. ts-mls's combinators build several closures and a DataView per field and
 * chain the nodes' writers into one recursion 2,047 deep; that garbage cost about 45 ms per state
 * encoding at 1,000 members, almost all of it in the garbage collector. Here: one pass to size,
 * one pass to write, nothing allocated per node.
 *
 * Layout (RFC 9000-style length prefixes as ts-mls's lengthEncoder, integers big-endian):
 * varint(len) then per node { handshake, application }, each GenerationSecret being
 * varint(len) secret, uint32 generation, varint(len) [ uint32 generation, varint(len) secret ]*
 * with the unused generations in Object.entries order (for-in gives the same order: ascending
 * integer keys, then any other keys as inserted).
 */
export const secretTreeEncoder: BufferEncoder<SecretTree> = (tree) => {
  let body = 0;
  for (const node of tree) body += generationSecretLength(node.handshake) + generationSecretLength(node.application);
  const header = lengthPrefixSize(body);
  return [
    header + body,
    (offset, buffer) => {
      const bytes = new Uint8Array(buffer);
      const view = new DataView(buffer);
      let at = writeLengthPrefix(view, offset, body);
      for (const node of tree) {
        at = writeGenerationSecret(bytes, view, at, node.handshake);
        at = writeGenerationSecret(bytes, view, at, node.application);
      }
    },
  ];
};

function varLenDataLength(data: Uint8Array): number {
  return lengthPrefixSize(data.length) + data.length;
}

function unusedGenerationsLength(gs: GenerationSecret): number {
  let length = 0;
  // for-in rather than Object.values: no array per call (twice per ratchet, 12,000 times per state
  // at 1,000 members, nearly all of them empty records).
  for (const generation in gs.unusedGenerations) length += 4 + varLenDataLength(gs.unusedGenerations[Number(generation)]!);
  return length;
}

function generationSecretLength(gs: GenerationSecret): number {
  const unused = unusedGenerationsLength(gs);
  return varLenDataLength(gs.secret) + 4 + lengthPrefixSize(unused) + unused;
}

function writeGenerationSecret(bytes: Uint8Array, view: DataView, offset: number, gs: GenerationSecret): number {
  let at = writeVarLenData(bytes, view, offset, gs.secret);
  view.setUint32(at, gs.generation);
  at = writeLengthPrefix(view, at + 4, unusedGenerationsLength(gs));
  for (const generation in gs.unusedGenerations) {
    view.setUint32(at, Number(generation));
    at = writeVarLenData(bytes, view, at + 4, gs.unusedGenerations[Number(generation)]!);
  }
  return at;
}

function writeVarLenData(bytes: Uint8Array, view: DataView, offset: number, data: Uint8Array): number {
  const at = writeLengthPrefix(view, offset, data.length);
  bytes.set(data, at);
  return at + data.length;
}
