/** How requests look outside Redis, and the decoding of the compact records the scripts keep. */

export const REQUEST_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];
export type FinalStatus = 'succeeded' | 'failed' | 'cancelled';

export interface RequestError {
  message: string;
  code?: string;
}

export interface FailedAttempt {
  attempt: number;
  startedAt: number;
  finishedAt: number;
  error: RequestError;
}

/** Times are milliseconds since the epoch on Redis's clock. */
export interface RequestRecord {
  id: string;
  clientId: string;
  type: string;
  status: RequestStatus;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  payload: unknown;
  result?: unknown;
  error?: RequestError;
  enqueuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** when a request waiting for its retry becomes due */
  retryAt?: number;
  /** failed attempts, oldest first */
  history: FailedAttempt[];
  /** the client's requests ahead of this one (queued requests only) */
  position?: number;
}

/** The record as the Lua scripts store it: short keys, because every queued byte counts. */
export interface StoredRecord {
  /** final records: the request id */
  id?: string;
  /** unfinished records: the request id */
  i?: string;
  /** final records: the client (an unfinished record is found through its client, so it names none) */
  c?: string;
  t: string;
  p: string;
  m: number;
  o: number;
  e: number;
  /** absent from a record behind its client's head (never started) */
  a?: number;
  /** 1 while leased (running); 0 or absent otherwise */
  l?: number;
  /** claims made so far: the latest claim's fencing token */
  k?: number;
  /** 0 (stored records before their first start) or absent when never started */
  s?: number;
  w?: number;
  f?: number;
  st?: FinalStatus;
  r?: string;
  er?: RequestError;
  h?: { a: number; s: number; f: number; er: RequestError }[];
}

const parseJson = (text: string | undefined): unknown => (text === undefined ? undefined : JSON.parse(text));

/** `clientId` names the client of an unfinished record (final records name it themselves). */
export function decodeRecord(id: string, json: string, status: RequestStatus, position?: number, clientId?: string): RequestRecord {
  return decodeStored(id, JSON.parse(json) as StoredRecord, status, position, clientId);
}

/** The record of a request from its stored form (from Redis, or rebuilt from the archive). */
export function decodeStored(
  id: string,
  stored: StoredRecord,
  status: RequestStatus,
  position?: number,
  clientId?: string,
): RequestRecord {
  const record: RequestRecord = {
    id,
    clientId: stored.c ?? clientId ?? '',
    type: stored.t,
    status,
    // A record behind its client's head keeps no attempts count: it has none yet.
    attempts: stored.a ?? 0,
    maxAttempts: stored.m,
    timeoutMs: stored.o,
    payload: parseJson(stored.p),
    enqueuedAt: stored.e,
    history: (Array.isArray(stored.h) ? stored.h : []).map((entry) => ({
      attempt: entry.a,
      startedAt: entry.s,
      finishedAt: entry.f,
      error: entry.er,
    })),
  };
  if (stored.s) record.startedAt = stored.s;
  if (stored.f !== undefined) record.finishedAt = stored.f;
  if (stored.w !== undefined) record.retryAt = stored.w;
  if (stored.r !== undefined) record.result = parseJson(stored.r);
  if (stored.er !== undefined) record.error = stored.er;
  if (position !== undefined && position >= 0) record.position = position;
  return record;
}

/** The final records (JSON) one archive stream entry carries: the values of its 'r' fields. */
export function archivedRecords(fields: string[]): string[] {
  const records: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'r') records.push(fields[i + 1] as string);
  }
  return records;
}
