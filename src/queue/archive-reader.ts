import type pg from 'pg';
import { decodeStored, type FinalStatus, type RequestRecord, type StoredRecord } from './records.js';

/**
 * Reads the PostgreSQL archive (table `requests`, written by the workers' archiver) back into
 * the records the engine returns. Payloads, results and history are selected as text so that
 * they are decoded exactly as Redis's copies are; times come back as ms on Redis's clock.
 */
const COLUMNS = `
  id::text AS id, client_id, type, status, payload::text AS payload, result::text AS result,
  error::text AS error, attempts, max_attempts, history::text AS history,
  extract(epoch FROM enqueued_at) * 1000 AS enqueued_at, extract(epoch FROM started_at) * 1000 AS started_at,
  extract(epoch FROM finished_at) * 1000 AS finished_at`;

interface ArchiveRow {
  id: string;
  client_id: string;
  type: string;
  status: FinalStatus;
  payload: string | null;
  result: string | null;
  error: string | null;
  attempts: number;
  max_attempts: number;
  history: string | null;
  enqueued_at: string;
  started_at: string | null;
  finished_at: string;
}

export interface ArchivedRequest {
  record: RequestRecord;
  /** the record as finish() stores it in Redis, for scripts that take one (requeue_dead_letter) */
  stored: StoredRecord;
}

/** A plain range on id (not `$n = '' OR …`), so that the index serves every page of a cursor. */
const BEFORE = (param: string) => `COALESCE(NULLIF(${param}, '')::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')`;

const ms = (value: string) => Math.round(Number(value));

/**
 * The archive does not keep timeoutMs: a record rebuilt from it gets `defaultTimeoutMs`, which
 * matters only if an administrator requeues it.
 */
function toStored(row: ArchiveRow, defaultTimeoutMs: number): StoredRecord {
  const stored: StoredRecord = {
    id: row.id,
    c: row.client_id,
    t: row.type,
    p: row.payload ?? 'null',
    m: row.max_attempts,
    o: defaultTimeoutMs,
    e: ms(row.enqueued_at),
    a: row.attempts,
    f: ms(row.finished_at),
    st: row.status,
  };
  if (row.started_at !== null) stored.s = ms(row.started_at);
  if (row.result !== null) stored.r = row.result;
  if (row.error !== null) stored.er = JSON.parse(row.error) as StoredRecord['er'];
  const history = row.history === null ? null : (JSON.parse(row.history) as StoredRecord['h'] | null);
  if (Array.isArray(history) && history.length > 0) stored.h = history;
  return stored;
}

export interface ArchivePageOptions {
  /** only ids below this one ('' = from the newest) */
  before: string;
  limit: number;
  status?: FinalStatus;
}

export class ArchiveReader {
  constructor(
    private readonly pool: pg.Pool,
    private readonly defaultTimeoutMs: number,
  ) {}

  /** One of the client's archived requests; another client's reads as absent. */
  async get(clientId: string, id: string): Promise<ArchivedRequest | undefined> {
    const { rows } = await this.pool.query<ArchiveRow>({
      name: 'requests.get',
      text: `SELECT ${COLUMNS} FROM requests WHERE id = $1 AND client_id = $2`,
      values: [id, clientId],
    });
    return rows[0] && this.toArchived(rows[0]);
  }

  /** Any client's archived request, for administrators. */
  async getAny(id: string): Promise<ArchivedRequest | undefined> {
    const { rows } = await this.pool.query<ArchiveRow>({
      name: 'requests.get-any',
      text: `SELECT ${COLUMNS} FROM requests WHERE id = $1`,
      values: [id],
    });
    return rows[0] && this.toArchived(rows[0]);
  }

  /** The client's archived requests below `before`, newest first (index requests_client_idx). */
  async list(clientId: string, options: ArchivePageOptions): Promise<RequestRecord[]> {
    const { rows } = await this.pool.query<ArchiveRow>({
      name: 'requests.list',
      text: `SELECT ${COLUMNS} FROM requests
             WHERE client_id = $1 AND id < ${BEFORE('$2')} AND ($3 = '' OR status = $3)
             ORDER BY id DESC LIMIT $4`,
      values: [clientId, options.before, options.status ?? '', options.limit],
    });
    return rows.map((row) => this.toArchived(row).record);
  }

  /** Dead letters (status failed) of every client below `before`, newest first (requests_failed_idx). */
  async deadLetters(before: string, limit: number): Promise<RequestRecord[]> {
    const { rows } = await this.pool.query<ArchiveRow>({
      name: 'requests.dead-letters',
      text: `SELECT ${COLUMNS} FROM requests WHERE status = 'failed' AND id < ${BEFORE('$1')}
             ORDER BY id DESC LIMIT $2`,
      values: [before, limit],
    });
    return rows.map((row) => this.toArchived(row).record);
  }

  private toArchived(row: ArchiveRow): ArchivedRequest {
    const stored = toStored(row, this.defaultTimeoutMs);
    return { record: decodeStored(row.id, stored, row.status), stored };
  }
}
