// Assertions are executable invariants and stay on in production (STYLE.md, "Invariants").
// They guard the engine's own bookkeeping, never caller input: bad input gets a status.

export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
