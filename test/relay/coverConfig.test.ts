import { describe, expect, it } from "vitest";
import { ConfigError, parseRelayConfig } from "../../src/relay/config.js";

const cover = (...flags: string[]) => parseRelayConfig(["--data-dir", "/tmp/unused", ...flags], {}).cover;

describe("relay cover flags", () => {
  it("default to paced poisson links, 8 frames of 1 KiB a second, and read rate and cell", () => {
    expect(cover()).toEqual({ mode: "poisson", rate: 8, cell: 1024 });
    expect(cover("--cover", "constant")).toEqual({ mode: "constant", rate: 32, cell: 1024 });
    expect(cover("--cover", "poisson", "--cover-rate", "200", "--cover-cell", "32768")).toEqual({ mode: "poisson", rate: 200, cell: 32768 });
    expect(cover("--cover", "off", "--cover-rate", "5")).toEqual({ mode: "off", rate: 0 });
    expect(parseRelayConfig(["--data-dir", "/tmp/unused"], { SKYTALE_RELAY_COVER: "off" }).cover.mode).toBe("off");
  });

  it("refuses a cell that is not a frame size, and rates out of range", () => {
    for (const flags of [["--cover-cell", "1000"], ["--cover-cell", "65536"], ["--cover-rate", "0"], ["--cover-rate", "1001"], ["--cover", "loud"]]) {
      expect(() => cover(...flags)).toThrow(ConfigError);
    }
  });
});
