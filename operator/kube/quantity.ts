// Kubernetes resource quantities ("512Mi", "4Gi", "1G", 1073741824) as byte counts, for
// KVCluster.spec.memoryPerPod (the CRD's CEL rules already bound it to [64Mi, 1Ti]).

const SUFFIX_BYTES: Readonly<Record<string, number>> = {
  '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};

export function quantityBytes(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)([KMGTPE]i|[kMGTPE])?$/.exec(value.trim()) : null;
  if (match === null) throw new RangeError(`not a byte quantity: ${JSON.stringify(value)} (use e.g. 512Mi, 4Gi)`);
  const bytes = Math.floor(Number(match[1]) * (SUFFIX_BYTES[match[2] ?? ''] ?? NaN));
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`byte quantity out of range: ${String(value)}`);
  return bytes;
}
