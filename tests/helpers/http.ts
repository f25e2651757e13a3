import type { FastifyInstance } from 'fastify';

export interface JsonResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: T;
}

/** `app.inject()` with a JSON body, returning the parsed JSON answer (or undefined when empty). */
export async function call<T = Record<string, unknown>>(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH',
  url: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string>; ip?: string } = {},
): Promise<JsonResponse<T>> {
  const response = await app.inject({
    method,
    url,
    remoteAddress: options.ip,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { payload: JSON.stringify(options.body) }),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: (response.body === '' ? undefined : JSON.parse(response.body)) as T,
  };
}

let counter = 0;
/** A username no other test in this process uses. */
export function freshUsername(stem = 'user'): string {
  counter += 1;
  return `${stem}_${process.pid}_${counter}_${Math.random().toString(36).slice(2, 6)}`;
}
