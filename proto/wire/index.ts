// The batch wire format: what a client session and a data-plane pod exchange inside the
// Session stream's messages. See docs/wire-format.md.
export { Opcode, OPCODE_MAX, WireStatus, WIRE_STATUS_MAX, WireDetail, opcodeName, wireStatusName, isMutation } from './codes.js';
export { DEFAULT_FRAME_LIMITS, FRAME_FORMAT_VERSION, type FrameLimits } from './limits.js';
export { FrameError, FrameErrorCode } from './frameError.js';
export { BatchWriter } from './batchWriter.js';
export { BatchReader } from './batchReader.js';
export { ResultWriter } from './resultWriter.js';
export { ResultReader } from './resultReader.js';
