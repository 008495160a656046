// The TLS material a test kube-apiserver needs, made with the openssl command (Debian's openssl
// package; node:crypto makes keys but cannot issue X.509 certificates):
//   ca.crt / ca.key              a throwaway CA, 1 day, that clients trust (caPath)
//   apiserver.crt / .key         serving cert for 127.0.0.1, localhost and the in-cluster names
//   sa.key / sa.pub              the service-account token signing key pair
// Everything stays in the control plane's temp dir and is removed with it.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OPENSSL_TIMEOUT_MS = 20_000;

export interface ControlPlaneCertificates {
  caCertPath: string;
  caKeyPath: string;
  servingCertPath: string;
  servingKeyPath: string;
  serviceAccountKeyPath: string;
  serviceAccountPublicKeyPath: string;
}

function openssl(args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', [...args], { cwd, timeout: OPENSSL_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`openssl ${args[0]} failed (is Debian's openssl installed?): ${error.message}\n${stderr}`));
    });
  });
}

/** The apiserver's in-cluster names and 10.0.0.1, the first IP of --service-cluster-ip-range. */
const SERVING_ALT_NAMES = [
  'IP:127.0.0.1', 'IP:10.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local',
];

export async function writeControlPlaneCertificates(dir: string): Promise<ControlPlaneCertificates> {
  const extensionsPath = join(dir, 'apiserver-ext.cnf');
  writeFileSync(extensionsPath, [
    'basicConstraints = CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${SERVING_ALT_NAMES.join(', ')}`,
    '',
  ].join('\n'));
  // EC P-256 keys: generating them takes milliseconds, where RSA-2048 takes ~100 ms each.
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=slicekv-test-ca'], dir);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
  await openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'apiserver.crt', '-days', '1', '-extfile', extensionsPath], dir);
  // Service-account tokens are signed RS256 by default, so this key is RSA.
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return {
    caCertPath: join(dir, 'ca.crt'),
    caKeyPath: join(dir, 'ca.key'),
    servingCertPath: join(dir, 'apiserver.crt'),
    servingKeyPath: join(dir, 'apiserver.key'),
    serviceAccountKeyPath: join(dir, 'sa.key'),
    serviceAccountPublicKeyPath: join(dir, 'sa.pub'),
  };
}
