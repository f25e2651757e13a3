import type { Static } from 'typebox';
import { AppError } from '../errors.js';
import type { NewRequest } from '../queue/engine.js';
import type { HandlerRegistry } from '../worker/handlers/registry.js';
import type { enqueueSchemas } from './queue-schemas.js';

export type NewRequestBody = Static<ReturnType<typeof enqueueSchemas>['NewRequest']>;

export interface EnqueueSettings {
  PAYLOAD_LIMIT_BYTES: number;
  PAYLOAD_MAX_DEPTH: number;
  DEFAULT_MAX_ATTEMPTS: number;
  DEFAULT_TIMEOUT_MS: number;
}

/**
 * Whether `value` nests arrays and objects deeper than `max` (a scalar is depth 0, `[]` depth 1).
 * Iterative, so that no payload can overflow the stack here; it must run before anything
 * recursive (JSON.stringify, schema validation) looks at the payload.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [node, depth] = entry;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Checks what the body schema cannot, for one request of an enqueue call, and fills in its
 * defaults. `where` prefixes the fields named in errors: '' for a single request, `requests[3].`
 * for the fourth of a batch, so a refused batch says which element was wrong.
 */
export function toNewRequest(body: NewRequestBody, where: string, registry: HandlerRegistry, settings: EnqueueSettings): NewRequest {
  const payload = body.payload ?? null;
  if (!registry.get(body.type)) {
    throw new AppError('unknown_type', `No handler runs requests of type "${body.type}".`, { type: body.type, field: `${where}type` });
  }
  if (nestsDeeperThan(payload, settings.PAYLOAD_MAX_DEPTH)) {
    throw new AppError('validation_failed', undefined, [
      { field: `${where}payload`, message: `must not nest deeper than ${settings.PAYLOAD_MAX_DEPTH} levels` },
    ]);
  }
  if (Buffer.byteLength(JSON.stringify(payload)) > settings.PAYLOAD_LIMIT_BYTES) {
    throw new AppError('payload_too_large', `The payload is larger than ${settings.PAYLOAD_LIMIT_BYTES} bytes of JSON.`, {
      field: `${where}payload`,
      limitBytes: settings.PAYLOAD_LIMIT_BYTES,
    });
  }
  registry.validatePayload(body.type, payload, `${where}payload`);
  return {
    type: body.type,
    payload,
    maxAttempts: body.maxAttempts ?? settings.DEFAULT_MAX_ATTEMPTS,
    timeoutMs: body.timeoutMs ?? settings.DEFAULT_TIMEOUT_MS,
    ...(body.idempotencyKey === undefined ? {} : { idempotencyKey: body.idempotencyKey }),
  };
}
