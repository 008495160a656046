// `slicekv dataplane` as a child process for tests: started with the given flags, resolved once
// it logs that it listens, with its JSON log lines kept for assertions.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dataplaneEnvironment } from '../../proto/dataplaneEnvironment.js';

const BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));

export interface DataplaneProcess {
  readonly child: ChildProcess;
  readonly address: string;
  readonly logs: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
  /** SIGKILL: no drain, no flush, what a crash does. */
  kill9(): Promise<void>;
}

export async function startDataplane(args: readonly string[], startTimeoutMs = 20_000): Promise<DataplaneProcess> {
  const child = spawn(process.execPath, [BIN, 'dataplane', '--metrics-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: dataplaneEnvironment() });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dataplane did not listen within ${startTimeoutMs} ms: ${stderr}`)), startTimeoutMs);
    void exited.then((code) => reject(new Error(`dataplane exited with ${code} before listening: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.event === 'listening') {
        clearTimeout(timer);
        resolve(String(entry.address));
      }
    });
  });
  return {
    child, address, logs, exited,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A port on 127.0.0.1 below the ephemeral range (so no outgoing connection holds it when a
 * restarted process binds it again), free right now.
 */
export async function fixedFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found below 32000');
}
