// A frame that cannot be parsed: the whole batch is refused and nothing in it runs.

export const enum FrameErrorCode {
  TRUNCATED = 'TRUNCATED',
  BAD_FORMAT_VERSION = 'BAD_FORMAT_VERSION',
  BAD_FLAGS = 'BAD_FLAGS',
  UNKNOWN_OPCODE = 'UNKNOWN_OPCODE',
  TOO_MANY_OPS = 'TOO_MANY_OPS',
  FRAME_TOO_LARGE = 'FRAME_TOO_LARGE',
  TRAILING_BYTES = 'TRAILING_BYTES',
  UNKNOWN_STATUS = 'UNKNOWN_STATUS',
}

export class FrameError extends Error {
  override name = 'FrameError';

  constructor(readonly code: FrameErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}
