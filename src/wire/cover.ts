import { BUCKETS } from "./buckets.js";

/**
 * off: frames leave as soon as they are sealed, in the sizes their contents need. poisson and
 * constant pace the link (linkPacer.ts): one frame of one size (the cell) in every slot of a
 * schedule fixed in advance, real data in place of cover, never a frame more; slots at
 * exponential intervals (poisson) or at fixed ones (constant).
 */
export type CoverMode = "off" | "poisson" | "constant";
export const COVER_MODES: readonly CoverMode[] = ["off", "poisson", "constant"];

export interface CoverConfig {
  readonly mode: CoverMode;
  /** Frames per second each way: the mean (poisson) or exact (constant) rate of slots. */
  readonly rate: number;
  /** Bytes of every frame, a bucket size: real data is cut into cells of this size. Default DEFAULT_CELL. */
  readonly cell?: number;
}

/** Rates are capped so that a misconfiguration cannot flood a link. */
export const MAX_COVER_RATE = 1000;
export const DEFAULT_CELL = 1024;
/**
 * poisson (the default): 8 frames of 1 KiB a second each way, 8 KiB/s; a chat-sized message waits
 * about a slot per hop. constant: the stronger setting, 32 fixed slots a second, 32 KiB/s each way,
 * with four times the room for real data before it queues. See docs/security.md.
 */
export const DEFAULT_COVER: Record<CoverMode, CoverConfig> = {
  off: { mode: "off", rate: 0 },
  poisson: { mode: "poisson", rate: 8, cell: DEFAULT_CELL },
  constant: { mode: "constant", rate: 32, cell: DEFAULT_CELL },
};

/** The frame size of a paced link. */
export function cellOf(config: CoverConfig): number {
  return config.cell ?? DEFAULT_CELL;
}

/** What a setting costs each way, in bytes of link frames per second, idle or busy alike (0 when off). */
export function coverBudget(config: CoverConfig): number {
  return config.mode === "off" ? 0 : config.rate * cellOf(config);
}

/** Why `config` cannot be used, or undefined when it can. */
export function coverProblem(config: CoverConfig): string | undefined {
  if (!COVER_MODES.includes(config.mode)) return `cover mode must be one of ${COVER_MODES.join(", ")}`;
  if (config.mode === "off") return undefined;
  if (!(config.rate > 0 && config.rate <= MAX_COVER_RATE)) return `a cover rate is above 0 and at most ${MAX_COVER_RATE} frames per second`;
  if (!(BUCKETS as readonly number[]).includes(cellOf(config))) return `a cover cell is one of the frame sizes ${BUCKETS.join(", ")}`;
  return undefined;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
