// The key hash: the one function that client, pod and operator must agree on bit for bit.
//
// MurmurHash3_x86_128 (Austin Appleby, public domain algorithm), seed 0, truncated to its low
// 64 bits. It passes SMHasher, which is what "xxHash64-class quality" asks for, and it uses only
// 32-bit multiplies (Math.imul), so it runs without BigInt and without 64-bit multiply emulation.
// xxHash64 in JavaScript would need 16-bit limb multiplies for every 8 bytes of input.
// See "Key hash" in docs/design-notes.md.
//
// Locality tags (Redis-style): when the key contains '{' followed later by '}' with at least one
// byte between them, only the bytes between the first '{' and the first '}' after it are hashed,
// so `user:{42}:cart` and `user:{42}:profile` land in the same range.

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function word(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

/** Little-endian partial word of `count` (0..3) bytes starting at `at`. */
function partialWord(bytes: Uint8Array, at: number, count: number): number {
  let k = 0;
  for (let i = count - 1; i >= 0; i--) k = (k << 8) | bytes[at + i];
  return k;
}

/**
 * Computes 64-bit key hashes into two unsigned 32-bit halves, `hi` and `lo`, without allocating.
 * One instance per caller; the halves are valid until the next call.
 */
export class KeyHasher {
  /** Most significant 32 bits of the last hash, unsigned. */
  hi = 0;
  /** Least significant 32 bits of the last hash, unsigned. */
  lo = 0;

  /** Hashes `bytes[offset, offset + length)`, honouring a `{tag}`. */
  hashKey(bytes: Uint8Array, offset: number, length: number): void {
    const end = offset + length;
    for (let i = offset; i < end; i++) {
      if (bytes[i] !== OPEN_BRACE) continue;
      for (let j = i + 1; j < end; j++) {
        if (bytes[j] !== CLOSE_BRACE) continue;
        if (j > i + 1) {
          this.hashBytes(bytes, i + 1, j - i - 1);
          return;
        }
        break;
      }
      break;
    }
    this.hashBytes(bytes, offset, length);
  }

  /** MurmurHash3_x86_128 of `bytes[offset, offset + length)`, low 64 bits. */
  hashBytes(bytes: Uint8Array, offset: number, length: number): void {
    let h1 = 0;
    let h2 = 0;
    let h3 = 0;
    let h4 = 0;
    const blockEnd = offset + (length & ~15);
    for (let at = offset; at < blockEnd; at += 16) {
      let k1 = word(bytes, at);
      let k2 = word(bytes, at + 4);
      let k3 = word(bytes, at + 8);
      let k4 = word(bytes, at + 12);
      k1 = Math.imul(rotl32(Math.imul(k1, C1), 15), C2);
      h1 ^= k1;
      h1 = (Math.imul(rotl32(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
      k2 = Math.imul(rotl32(Math.imul(k2, C2), 16), C3);
      h2 ^= k2;
      h2 = (Math.imul(rotl32(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
      k3 = Math.imul(rotl32(Math.imul(k3, C3), 17), C4);
      h3 ^= k3;
      h3 = (Math.imul(rotl32(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
      k4 = Math.imul(rotl32(Math.imul(k4, C4), 18), C1);
      h4 ^= k4;
      h4 = (Math.imul(rotl32(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
    }
    const tail = length & 15;
    if (tail > 12) h4 ^= Math.imul(rotl32(Math.imul(partialWord(bytes, blockEnd + 12, tail - 12), C4), 18), C1);
    if (tail > 8) {
      const k3 = partialWord(bytes, blockEnd + 8, Math.min(tail - 8, 4));
      h3 ^= Math.imul(rotl32(Math.imul(k3, C3), 17), C4);
    }
    if (tail > 4) {
      const k2 = partialWord(bytes, blockEnd + 4, Math.min(tail - 4, 4));
      h2 ^= Math.imul(rotl32(Math.imul(k2, C2), 16), C3);
    }
    if (tail > 0) {
      const k1 = partialWord(bytes, blockEnd, Math.min(tail, 4));
      h1 ^= Math.imul(rotl32(Math.imul(k1, C1), 15), C2);
    }
    h1 ^= length;
    h2 ^= length;
    h3 ^= length;
    h4 ^= length;
    h1 = (h1 + h2 + h3 + h4) | 0;
    h2 = (h2 + h1) | 0;
    h3 = (h3 + h1) | 0;
    h4 = (h4 + h1) | 0;
    h1 = fmix32(h1);
    h2 = fmix32(h2);
    h3 = fmix32(h3);
    h4 = fmix32(h4);
    h1 = (h1 + h2 + h3 + h4) | 0;
    h2 = (h2 + h1) | 0;
    this.hi = h2 >>> 0;
    this.lo = h1 >>> 0;
  }
}

const sharedHasher = new KeyHasher();

/** The 64-bit hash of a key as a bigint: for edges (tools, tests, routing tables), never hot paths. */
export function keyHash64(key: Uint8Array): bigint {
  sharedHasher.hashKey(key, 0, key.length);
  return (BigInt(sharedHasher.hi) << 32n) | BigInt(sharedHasher.lo);
}
