import Type from 'typebox';

/**
 * The queue API's request and response shapes, shared by the routes, the OpenAPI document and
 * any SDK, so they cannot drift apart. Limits that a deployment configures (attempts, timeouts)
 * are filled in by `enqueueSchemas`, so the published document states this deployment's limits.
 */

/** Most requests one enqueue call may carry: one engine script call, so all or none. */
export const MAX_BATCH = 1_000;
export const MAX_PAGE = 100;
export const DEFAULT_PAGE = 20;
export const MAX_WAIT_S = 30;

const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 with milliseconds, on Redis\'s clock.' });
const RequestId = Type.String({ format: 'uuid', description: 'uuidv7: ids sort by enqueue time.' });

export const RequestStatus = Type.Union(
  [
    Type.Literal('queued'),
    Type.Literal('running'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
  ],
  { description: 'queued | running | succeeded | failed | cancelled' },
);

export const RequestError = Type.Object({ message: Type.String(), code: Type.Optional(Type.String()) });

export const FailedAttempt = Type.Object({
  attempt: Type.Integer({ minimum: 1 }),
  startedAt: Timestamp,
  finishedAt: Timestamp,
  error: RequestError,
});

const requestViewProperties = {
  id: RequestId,
  type: Type.String(),
  status: RequestStatus,
  attempts: Type.Integer({ minimum: 0, description: 'Attempts started so far.' }),
  maxAttempts: Type.Integer({ minimum: 1 }),
  payload: Type.Unknown({ description: 'As enqueued.' }),
  result: Type.Optional(Type.Unknown({ description: 'The handler\'s result (succeeded only).' })),
  error: Type.Optional(RequestError),
  enqueuedAt: Timestamp,
  startedAt: Type.Optional(Timestamp),
  finishedAt: Type.Optional(Timestamp),
  position: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Queued only: how many of the client\'s requests are ahead of it.' }),
  ),
  history: Type.Array(FailedAttempt, { description: 'Failed attempts, oldest first.' }),
};

export const RequestView = Type.Object(requestViewProperties);

/** A request as administrators see it: with the client it belongs to. */
export const AdminRequestView = Type.Object({ ...requestViewProperties, clientId: Type.String() });

export const RequestIdParams = Type.Object(
  // Any text: a malformed id answers 404 like an unknown one, so ids cannot be probed.
  { id: Type.String({ description: 'The request id.' }) },
  { additionalProperties: false },
);

export interface EnqueueLimits {
  maxAttempts: number;
  maxTimeoutMs: number;
}

export function enqueueSchemas(limits: EnqueueLimits) {
  const NewRequest = Type.Object(
    {
      type: Type.String({ minLength: 1, maxLength: 64, description: 'One of GET /api/queue/types.' }),
      payload: Type.Optional(Type.Unknown({ description: 'Checked against the type\'s schema; null when absent.' })),
      idempotencyKey: Type.Optional(
        Type.String({ minLength: 1, maxLength: 200, description: 'A repeat with the same key answers the original.' }),
      ),
      maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.maxAttempts })),
      timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.maxTimeoutMs, description: 'Per attempt.' })),
    },
    { additionalProperties: false },
  );
  const NewBatch = Type.Object(
    { requests: Type.Array(NewRequest, { minItems: 1, maxItems: MAX_BATCH }) },
    { additionalProperties: false },
  );
  return { NewRequest, NewBatch, EnqueueBody: Type.Union([NewRequest, NewBatch]) };
}

export const Accepted = Type.Object({
  id: RequestId,
  status: RequestStatus,
  position: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Requests of the client ahead of it; absent when not queued.' }),
  ),
});

export const AcceptedBatch = Type.Object({ requests: Type.Array(Accepted) });

export const QueueStats = Type.Object({
  pending: Type.Integer({ minimum: 0, description: 'Queued, including one waiting for its retry.' }),
  running: Type.Integer({ minimum: 0, maximum: 1 }),
  succeeded: Type.Integer({ minimum: 0 }),
  failed: Type.Integer({ minimum: 0 }),
  cancelled: Type.Integer({ minimum: 0 }),
  oldestPendingAgeMs: Type.Integer({ minimum: 0 }),
});

export const RequestTypes = Type.Object({
  types: Type.Array(
    Type.Object({
      type: Type.String(),
      description: Type.String(),
      schema: Type.Unknown({ description: 'JSON Schema of the payload.' }),
    }),
  ),
});

/** No query parameters: unknown ones are refused like unknown body fields. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

const Cursor = Type.String({ minLength: 1, maxLength: 200, description: 'nextCursor of the previous page.' });
const Limit = Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE });

export const ListQuery = Type.Object(
  { status: Type.Optional(RequestStatus), limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);

export const RequestPage = Type.Object({
  requests: Type.Array(RequestView),
  nextCursor: Type.Optional(Type.String({ description: 'Absent on the last page.' })),
});

export const Cancelled = Type.Object({ id: RequestId, status: Type.Literal('cancelled') });

export const DequeueQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_WAIT_S, default: 0, description: 'Seconds to wait for a result.' }),
    ),
  },
  { additionalProperties: false },
);

export const OverviewQuery = Type.Object(
  { top: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'How many deepest queues.' })) },
  { additionalProperties: false },
);

export const QueueOverview = Type.Object({
  totals: Type.Object({
    pending: Type.Integer({ minimum: 0 }),
    running: Type.Integer({ minimum: 0 }),
    waitingRetry: Type.Integer({ minimum: 0 }),
    deadLettered: Type.Integer({ minimum: 0 }),
    clientsWithWork: Type.Integer({ minimum: 0 }),
  }),
  deepestQueues: Type.Array(Type.Object({ clientId: Type.String(), pending: Type.Integer({ minimum: 0 }) })),
  complete: Type.Boolean({ description: 'false when the scan of client backlogs stopped at its bound: the ranking of deepestQueues may then miss some (the totals are exact).' }),
});

export const DeadLetterQuery = Type.Object(
  { limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);

export const DeadLetterPage = Type.Object({
  deadLetters: Type.Array(AdminRequestView),
  nextCursor: Type.Optional(Type.String({ description: 'Absent on the last page.' })),
});

export const Requeued = Type.Object({
  id: RequestId,
  status: Type.Literal('queued'),
  position: Type.Integer({ minimum: 0 }),
});
