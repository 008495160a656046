// Pod IPs for the process kubelet: loopback addresses 127.0.0.N (N from 2 up; 127.0.0.1 is the
// node's own address, where the API server listens). On Linux the whole 127.0.0.0/8 is routed to
// `lo`, so a pod process can bind its own IP and the same port as every other pod, as in a cluster.
// An address is unique among live pods and is reused after its pod is gone.

import assert from 'node:assert/strict';

export class LoopbackIpPool {
  private readonly taken = new Map<number, string>(); // last octet -> owner key

  constructor(
    private readonly prefix = '127.0.0.',
    private readonly firstOctet = 2,
    private readonly lastOctet = 254,
  ) {
    assert.ok(/^127\.\d{1,3}\.\d{1,3}\.$/.test(prefix), `pod IP prefix ${prefix} must be a 127.x.y. loopback prefix`);
    assert.ok(firstOctet >= 1 && lastOctet <= 254 && firstOctet <= lastOctet);
  }

  /** The lowest free address, now owned by `owner`; throws when all are taken. */
  allocate(owner: string): string {
    for (let octet = this.firstOctet; octet <= this.lastOctet; octet++) {
      if (!this.taken.has(octet)) {
        this.taken.set(octet, owner);
        return `${this.prefix}${octet}`;
      }
    }
    throw new Error(`no free pod IP in ${this.prefix}${this.firstOctet}-${this.lastOctet}`);
  }

  release(ip: string): void {
    assert.ok(ip.startsWith(this.prefix), `${ip} is not from this pool (${this.prefix})`);
    this.taken.delete(Number(ip.slice(this.prefix.length)));
  }
}
