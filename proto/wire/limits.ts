// Bounds a frame must respect; both ends enforce them (STYLE.md, "Bound everything").

export interface FrameLimits {
  readonly keyLengthMax: number;
  readonly valueLengthMax: number;
  readonly opCountMax: number;
  readonly frameBytesMax: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  keyLengthMax: 16 * 1024,
  valueLengthMax: 1024 * 1024,
  opCountMax: 4096,
  // One largest op (16 KiB key + 1 MiB value) plus room for many small ones.
  frameBytesMax: 4 * 1024 * 1024,
};

/** Version of the batch and result frame layouts; a frame with another version is refused. */
export const FRAME_FORMAT_VERSION = 1;
