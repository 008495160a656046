// Larger HTTP/2 receive windows for the pod's gRPC server. grpc-js (1.14) leaves a server's
// windows at Node's default of 64 KiB per stream and per connection and has no option to raise
// them (the client side has 'grpc-node.flow_control_window'; the server side is grpc-node PR
// #3058, open). A request larger than the window then needs a WINDOW_UPDATE round trip per 64 KiB,
// each sent only when this pod's event loop gets to the received data: a 256 KiB MoveData chunk
// from a migration source took 16-44 ms to arrive at a busy target (1-4 ms to produce, ~1 ms to
// install), and large mput batches pay the same. Node's own http2 API can raise both windows:
// `settings.initialWindowSize` (per stream, advertised in SETTINGS) and
// `Http2Session.setLocalWindowSize` (the connection). Until grpc-js exposes them, the server
// factory grpc-js calls (`http2.createServer`) is wrapped once, here, to set both.

import http2 from 'node:http2';

/** Per-stream and per-connection receive window of the pod's gRPC server. */
export const SERVER_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const SERVER_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

let installed = false;

/** Makes every http2 server created from now on in this process use the larger windows (idempotent). */
export function raiseHttp2ServerWindows(): void {
  if (installed) return;
  installed = true;
  const createServer = http2.createServer;
  const wrapped = (options?: http2.ServerOptions, listener?: (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => void): http2.Http2Server => {
    const settings = { ...(options?.settings ?? {}), initialWindowSize: SERVER_STREAM_WINDOW_BYTES };
    const server = listener === undefined ? createServer({ ...options, settings }) : createServer({ ...options, settings }, listener);
    server.on('session', (session: http2.ServerHttp2Session) => session.setLocalWindowSize(SERVER_CONNECTION_WINDOW_BYTES));
    return server;
  };
  (http2 as unknown as { createServer: typeof wrapped }).createServer = wrapped;
}
