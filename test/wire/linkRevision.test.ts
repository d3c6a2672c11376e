import { describe, expect, it } from "vitest";
import { LINK_REVISION, peerRevision } from "../../src/wire/linkRevision.js";

describe("peerRevision", () => {
  it("reads an announced revision, capped at the one spoken here", () => {
    expect(peerRevision("2")).toBe(2);
    expect(peerRevision(" 2 ")).toBe(2);
    expect(peerRevision(["2", "1"])).toBe(2);
    expect(peerRevision("1")).toBe(1);
    expect(peerRevision("999")).toBe(LINK_REVISION);
  });

  it("takes anything else, or nothing, for revision 1", () => {
    for (const value of [undefined, "", "0", "-2", "2.5", "two", "1e3", "0x2", "1234567", []]) expect(peerRevision(value)).toBe(1);
  });
});
