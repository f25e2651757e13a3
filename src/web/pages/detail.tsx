import { useEffect, useState } from 'preact/hooks';
import type { RequestView } from '../../client/index.js';
import { href, useLive } from '../hooks.js';
import type { LiveQueue } from '../live.js';
import { client } from '../session.js';
import { describeError, ErrorNote, Json, PageTitle, StatusBadge, Time } from '../ui.js';

/** One request in full; read again whenever the live stream reports a change of it. */
export function DetailPage({ id, live }: { id: string; live: LiveQueue }) {
  useLive(live);
  const status = live.rows.get(id)?.status;
  const [view, setView] = useState<RequestView>();
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    let current = true;
    client.get(id).then(
      (read) => current && setView(read),
      (error: unknown) => current && setProblem(describeError(error)),
    );
    return () => {
      current = false;
    };
  }, [id, status]);

  const cancel = async () => {
    setProblem(undefined);
    try {
      live.upsert(await client.cancel(id), true);
      live.refreshStats();
    } catch (error) {
      setProblem(describeError(error));
    }
  };

  return (
    <>
      <p>
        <a href={href.queue}>← My queue</a>
      </p>
      <PageTitle>Request</PageTitle>
      <p class="mono id">{id}</p>
      <ErrorNote>{problem}</ErrorNote>
      {view && (
        <article class="card detail" data-status={view.status}>
          <dl class="facts">
            <dt>Type</dt>
            <dd>{view.type}</dd>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={view.status} />
            </dd>
            <dt>Attempts</dt>
            <dd>
              {view.attempts} of {view.maxAttempts}
            </dd>
            {view.position !== undefined && (
              <>
                <dt>Position</dt>
                <dd>{view.position}</dd>
              </>
            )}
            <dt>Enqueued</dt>
            <dd>
              <Time iso={view.enqueuedAt} />
            </dd>
            <dt>Started</dt>
            <dd>
              <Time iso={view.startedAt} />
            </dd>
            <dt>Finished</dt>
            <dd>
              <Time iso={view.finishedAt} />
            </dd>
          </dl>
          {view.status === 'queued' && (
            <button type="button" onClick={cancel}>
              Cancel this request
            </button>
          )}
          <h2>Payload</h2>
          <Json label="Payload" value={view.payload} />
          {view.result !== undefined && (
            <>
              <h2>Result</h2>
              <Json label="Result" value={view.result} />
            </>
          )}
          {view.error && (
            <>
              <h2>Error</h2>
              <p class="error">{view.error.message}</p>
            </>
          )}
          {view.history.length > 0 && (
            <>
              <h2>Failed attempts</h2>
              <ol class="history">
                {view.history.map((attempt) => (
                  <li key={attempt.attempt}>
                    Attempt {attempt.attempt}, <Time iso={attempt.startedAt} />–<Time iso={attempt.finishedAt} />:{' '}
                    {attempt.error.message}
                  </li>
                ))}
              </ol>
            </>
          )}
        </article>
      )}
    </>
  );
}
