// One readiness-probe attempt as a kubelet makes it, against the pod's IP:
//   httpGet   -> success on a status in [200, 400) within timeoutSeconds
//   tcpSocket -> success when a TCP connection opens within timeoutSeconds
// exec and grpc probes are not run by the process kubelet: a container with one is reported ready
// once its process has started (probeKind says so, and docs/k8s-test-harness.md lists it).

import type { V1ContainerPort, V1Probe } from '@kubernetes/client-node';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export type ProbeKind = 'httpGet' | 'tcpSocket' | 'unsupported' | 'none';

export function probeKind(probe: V1Probe | undefined): ProbeKind {
  if (probe === undefined) return 'none';
  if (probe.httpGet !== undefined) return 'httpGet';
  if (probe.tcpSocket !== undefined) return 'tcpSocket';
  return 'unsupported';
}

/** A probe port: a number, a numeric string, or the name of one of the container's ports. */
export function resolvePort(port: number | string, ports: readonly V1ContainerPort[]): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = ports.find((candidate) => candidate.name === port);
  if (named === undefined) throw new Error(`probe port ${port} names no container port`);
  return named.containerPort;
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

function httpProbe(url: string, headers: Record<string, string>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : request;
    // Like the kubelet, an HTTPS probe does not verify the certificate.
    const req = send(url, { timeout: timeoutMs, headers, rejectUnauthorized: false }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
    req.end();
  });
}

/** One attempt of `probe` against a container at `podIP`; true when it passes. */
export async function runProbeOnce(probe: V1Probe, podIP: string, ports: readonly V1ContainerPort[]): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.tcpSocket !== undefined) {
    return tcpProbe(probe.tcpSocket.host ?? podIP, resolvePort(probe.tcpSocket.port as number | string, ports), timeoutMs);
  }
  if (probe.httpGet !== undefined) {
    const get = probe.httpGet;
    const scheme = (get.scheme ?? 'HTTP').toLowerCase();
    const path = get.path ?? '/';
    const url = `${scheme}://${get.host ?? podIP}:${resolvePort(get.port as number | string, ports)}${path.startsWith('/') ? path : `/${path}`}`;
    const headers = Object.fromEntries((get.httpHeaders ?? []).map((header) => [header.name, header.value]));
    return httpProbe(url, headers, timeoutMs);
  }
  return true;
}
