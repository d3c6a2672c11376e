// One picture per cover setting of what the observer sees: frame sizes over time, both directions
// of alice's link, for an active trace and an idle one. Plain SVG, no dependency.
import { BUCKETS } from "../src/wire/buckets.js";
import type { WireEvent } from "./wireObserver.js";

export interface PlotPanel {
  readonly title: string;
  /** The trace's events, times in ms from its start. */
  readonly events: readonly WireEvent[];
  readonly durationMs: number;
}

const WIDTH = 900;
const LEFT = 110;
const RIGHT = 20;
const LANE = 100;
const PANEL_GAP = 46;
const TOP = 40;
const SMALL = Math.log2(BUCKETS[0]);
const LARGE = Math.log2(BUCKETS[BUCKETS.length - 1] as number);
const COLOURS = { up: "#1f77b4", down: "#d95f02" } as const;

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** An SVG of `panels`, stacked, each with an uplink lane over a downlink lane. */
export function tracePlot(title: string, panels: readonly PlotPanel[]): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const panelHeight = 2 * LANE + PANEL_GAP;
  const height = TOP + panels.length * panelHeight + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const y0 = TOP + p * panelHeight + 16;
    out.push(`<text x="${LEFT}" y="${y0 - 4}" font-size="12" font-weight="bold">${escape(panel.title)}</text>`);
    (["up", "down"] as const).forEach((dir, lane) => {
      const top = y0 + lane * LANE + 6;
      const bottom = y0 + (lane + 1) * LANE - 8;
      const yOf = (size: number) => bottom - ((Math.log2(Math.max(size, BUCKETS[0])) - SMALL + 0.5) / (LARGE - SMALL + 0.5)) * (bottom - top);
      out.push(`<text x="8" y="${(top + bottom) / 2 + 4}" fill="${COLOURS[dir]}">${dir === "up" ? "alice → relay" : "relay → alice"}</text>`);
      out.push(`<line x1="${LEFT}" y1="${bottom}" x2="${LEFT + plotWidth}" y2="${bottom}" stroke="#999"/>`);
      for (const size of [256, 1024, 4096, 32768]) {
        out.push(`<text x="${LEFT - 4}" y="${yOf(size) + 4}" text-anchor="end" fill="#666" font-size="9">${size}</text>`);
        out.push(`<line x1="${LEFT}" y1="${yOf(size)}" x2="${LEFT + plotWidth}" y2="${yOf(size)}" stroke="#eee"/>`);
      }
      for (const e of panel.events) {
        if (e.dir !== dir) continue;
        const x = LEFT + (e.at / panel.durationMs) * plotWidth;
        out.push(`<line x1="${x.toFixed(1)}" y1="${bottom}" x2="${x.toFixed(1)}" y2="${yOf(e.size).toFixed(1)}" stroke="${COLOURS[dir]}" stroke-width="1.5"/>`);
        out.push(`<circle cx="${x.toFixed(1)}" cy="${yOf(e.size).toFixed(1)}" r="2.2" fill="${COLOURS[dir]}"/>`);
      }
    });
    const axis = y0 + 2 * LANE - 8;
    for (let s = 0; s <= panel.durationMs / 1000; s++) {
      const x = LEFT + ((s * 1000) / panel.durationMs) * plotWidth;
      out.push(`<text x="${x}" y="${axis + 14}" text-anchor="middle" fill="#666">${s} s</text>`);
    }
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
