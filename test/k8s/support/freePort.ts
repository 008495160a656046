// Free TCP ports on loopback below the ephemeral range (32768-60999 on Linux), so that a port we
// pick cannot be taken by an outgoing connection's source port between the check and the bind.

import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';

const PORT_LOW = 10_000;
const PORT_HIGH = 32_000; // exclusive; below /proc/sys/net/ipv4/ip_local_port_range's start
const ATTEMPTS_MAX = 200;

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** `count` distinct ports that were free on `host` a moment ago; random, so parallel runs rarely meet. */
export async function freeLoopbackPorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; attempt < ATTEMPTS_MAX && ports.length < count; attempt++) {
    const port = randomInt(PORT_LOW, PORT_HIGH);
    if (!ports.includes(port) && (await canBind(host, port))) ports.push(port);
  }
  if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free ports on ${host} in ${ATTEMPTS_MAX} tries`);
  return ports;
}
