// The Kubernetes API's HTTP errors as the core's StoreError codes.

import { StoreError, type StoreErrorCode } from '../core/ports.js';

export function httpCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = Number((error as { code: unknown }).code);
  return Number.isInteger(code) ? code : undefined;
}

function messageOf(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      return body.slice(0, 500);
    }
  }
  if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return error instanceof Error ? error.message : String(error);
}

/** Maps an API error to a StoreError; `creating` tells a 409 AlreadyExists from a 409 Conflict. */
export function toStoreError(error: unknown, creating = false): StoreError {
  if (error instanceof StoreError) return error;
  const code = httpCode(error);
  const byCode: Record<number, StoreErrorCode> = { 404: 'NotFound', 409: creating ? 'AlreadyExists' : 'Conflict', 422: 'Invalid', 400: 'Invalid', 403: 'Forbidden' };
  return new StoreError((code === undefined ? undefined : byCode[code]) ?? 'Unavailable', `${code ?? 'request failed'}: ${messageOf(error)}`);
}

/** Runs `work`, turning API errors into StoreErrors; a 404 on read gives null. */
export async function readOrNull<T>(work: () => Promise<T>): Promise<T | null> {
  try {
    return await work();
  } catch (error) {
    if (httpCode(error) === 404) return null;
    throw toStoreError(error);
  }
}

export async function storeCall<T>(work: () => Promise<T>, creating = false): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toStoreError(error, creating);
  }
}
