import { describe, expect, it } from "vitest";
import { HeldWelcomes } from "../../src/agent/heldWelcomes.js";
import { AgentStore } from "../../src/store/agentStore.js";
import { tempDir } from "../helpers.js";

describe("HeldWelcomes", () => {
  it("keeps one Welcome per group in the data dir across a restart, a newer one replacing it, until dropped", () => {
    const dir = tempDir();
    let store = AgentStore.open(dir);
    const held = new HeldWelcomes(store);
    held.hold("aa", { welcome: new Uint8Array([1, 2, 3]), commitSeq: 4 });
    held.hold("aa", { welcome: new Uint8Array([9]), commitSeq: 12 });
    held.hold("bb", { welcome: new Uint8Array([5]), commitSeq: 1 });
    store.close();
    store = AgentStore.open(dir);
    const again = new HeldWelcomes(store);
    expect(again.groups().sort()).toEqual(["aa", "bb"]);
    expect(again.get("aa")).toEqual({ welcome: new Uint8Array([9]), commitSeq: 12 });
    again.drop("aa");
    expect(again.get("aa")).toBeUndefined();
    expect(again.groups()).toEqual(["bb"]);
    store.close();
  });
});
