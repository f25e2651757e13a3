import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { LaneqError, type RequestStatus } from '../client/index.js';

/**
 * What to tell the user about a failed call: the server's own message (laneq's `{error:{message}}`),
 * with the fields its details name, if any.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof LaneqError)) return error instanceof Error ? error.message : String(error);
  const issues = fieldIssues(error).map(({ field, message }) => `${field} ${message}`);
  return issues.length > 0 ? `${error.message} (${issues.join('; ')})` : error.message;
}

/** The `{field, message}` entries of a validation error's details (other shapes give none). */
export function fieldIssues(error: LaneqError): { field: string; message: string }[] {
  const details = Array.isArray(error.details) ? (error.details as unknown[]) : [];
  return details.flatMap((item) => {
    const { field, message } = (item ?? {}) as { field?: unknown; message?: unknown };
    return typeof field === 'string' && typeof message === 'string' ? [{ field, message }] : [];
  });
}

export function ErrorNote({ id, children }: { id?: string; children: ComponentChildren }) {
  if (!children) return null;
  return (
    <p class="error" role="alert" id={id}>
      {children}
    </p>
  );
}

export function StatusBadge({ status }: { status: RequestStatus }) {
  return <span class={`status status-${status}`}>{status}</span>;
}

export function Time({ iso }: { iso: string | undefined }) {
  if (!iso) return <>—</>;
  return <time dateTime={iso}>{new Date(iso).toLocaleTimeString(undefined, { hour12: false })}</time>;
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {value === undefined ? '—' : JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** The last 8 characters of an id: its random part (uuidv7 ids start with the time, shared by a burst). */
export const shortId = (id: string) => id.slice(-8);

/** A page's heading, focused when the page opens so keyboard and screen-reader users start there. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}
