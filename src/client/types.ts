/**
 * The SDK's types, derived from the very TypeBox schemas the server validates and documents with.
 * Type-only imports: they vanish at runtime, so the SDK loads neither typebox nor any server module.
 */
import type { Static } from 'typebox';
import type {
  Accepted as AcceptedSchema,
  Cancelled as CancelledSchema,
  DeadLetterPage as DeadLetterPageSchema,
  DeadLetterQuery as DeadLetterQuerySchema,
  enqueueSchemas,
  ListQuery as ListQuerySchema,
  OverviewQuery as OverviewQuerySchema,
  QueueOverview as QueueOverviewSchema,
  QueueStats as QueueStatsSchema,
  RequestPage as RequestPageSchema,
  RequestStatus as RequestStatusSchema,
  RequestTypes as RequestTypesSchema,
  RequestView as RequestViewSchema,
  Requeued as RequeuedSchema,
} from '../api/queue-schemas.js';
import type { PublicUser as PublicUserSchema, RegisteredUser as RegisteredUserSchema, TokenPair as TokenPairSchema } from '../auth/schemas.js';

export type RequestStatus = Static<typeof RequestStatusSchema>;
export type NewRequest = Static<ReturnType<typeof enqueueSchemas>['NewRequest']>;
export type Accepted = Static<typeof AcceptedSchema>;
export type RequestView = Static<typeof RequestViewSchema>;
export type RequestPage = Static<typeof RequestPageSchema>;
export type ListQuery = Static<typeof ListQuerySchema>;
export type QueueStats = Static<typeof QueueStatsSchema>;
export type RequestTypes = Static<typeof RequestTypesSchema>;
export type Cancelled = Static<typeof CancelledSchema>;
export type QueueOverview = Static<typeof QueueOverviewSchema>;
export type OverviewQuery = Static<typeof OverviewQuerySchema>;
export type DeadLetterPage = Static<typeof DeadLetterPageSchema>;
export type DeadLetterQuery = Static<typeof DeadLetterQuerySchema>;
export type Requeued = Static<typeof RequeuedSchema>;
export type PublicUser = Static<typeof PublicUserSchema>;
export type RegisteredUser = Static<typeof RegisteredUserSchema>;
export type TokenPair = Static<typeof TokenPairSchema>;

/** One state change of one of my requests, as the SSE stream carries it. */
export interface QueueEvent {
  /** The SSE event id: a resume point to pass back as `lastEventId`. */
  eventId: string;
  id: string;
  status: RequestStatus;
  attempt: number;
  /** ISO-8601, on the server's (Redis's) clock. */
  at: string;
}

/** The statuses a request never leaves. */
export const FINAL_STATUSES: ReadonlySet<RequestStatus> = new Set<RequestStatus>(['succeeded', 'failed', 'cancelled']);

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;
