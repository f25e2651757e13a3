import type { Static } from 'typebox';
import type { RequestRecord } from '../queue/records.js';
import type { AdminRequestView, RequestView } from './queue-schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** A record as the API shows it: ISO times, position only while queued, no internal fields. */
export function toView(record: RequestRecord): Static<typeof RequestView> {
  const view: Static<typeof RequestView> = {
    id: record.id,
    type: record.type,
    status: record.status,
    attempts: record.attempts,
    maxAttempts: record.maxAttempts,
    payload: record.payload,
    enqueuedAt: iso(record.enqueuedAt),
    history: record.history.map((attempt) => ({
      attempt: attempt.attempt,
      startedAt: iso(attempt.startedAt),
      finishedAt: iso(attempt.finishedAt),
      error: attempt.error,
    })),
  };
  if (record.result !== undefined) view.result = record.result;
  if (record.error !== undefined) view.error = record.error;
  if (record.startedAt !== undefined) view.startedAt = iso(record.startedAt);
  if (record.finishedAt !== undefined) view.finishedAt = iso(record.finishedAt);
  if (record.status === 'queued' && record.position !== undefined) view.position = record.position;
  return view;
}

export function toAdminView(record: RequestRecord): Static<typeof AdminRequestView> {
  return { ...toView(record), clientId: record.clientId };
}

/** Newest first: ids are uuidv7, so their order is enqueue order. */
export const newestFirst = (a: { id: string }, b: { id: string }) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A request id in its canonical (lower-case) form, or undefined when it cannot be one. */
export function canonicalId(text: string): string | undefined {
  const id = text.toLowerCase();
  return UUID.test(id) ? id : undefined;
}

/** Cursors are opaque to clients: the last id of a page, base64url-encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The id a cursor stands for: '' without a cursor (the first page), undefined for one not issued here. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return '';
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  return canonicalId(Buffer.from(cursor, 'base64url').toString('utf8'));
}

/**
 * One page, newest first, from sources that each gave their `limit + 1` newest records below the
 * cursor (enough to fill the page and to tell whether more follow). A later source wins for an id
 * that several hold.
 */
export function mergePage(sources: RequestRecord[][], limit: number): { page: RequestRecord[]; nextCursor?: string } {
  const merged = new Map<string, RequestRecord>();
  for (const record of sources.flat()) merged.set(record.id, record);
  const records = [...merged.values()].sort(newestFirst);
  const page = records.slice(0, limit);
  const last = page[page.length - 1];
  return records.length > limit && last ? { page, nextCursor: encodeCursor(last.id) } : { page };
}
