import type { Logger } from '../../observability/logger.js';

export interface HandlerContext {
  requestId: string;
  clientId: string;
  /** 1 on the first attempt */
  attempt: number;
  /** aborted when the attempt times out, the lease is lost or the worker shuts down */
  signal: AbortSignal;
  log: Logger;
}

/**
 * A request type: the JSON Schema its payload must match (checked at enqueue; object schemas
 * refuse unknown fields unless they say otherwise) and the function that runs it.
 */
export interface HandlerDefinition<Payload = unknown, Result = unknown> {
  description?: string;
  schema: Record<string, unknown>;
  run(payload: Payload, context: HandlerContext): Promise<Result> | Result;
}

export type HandlerMap = Record<string, HandlerDefinition>;

/** A handler error that should not be retried: the request fails at once. */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly code = 'permanent',
  ) {
    super(message);
    this.name = 'PermanentError';
  }
}
