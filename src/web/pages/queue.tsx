import { useState } from 'preact/hooks';
import type { RequestView } from '../../client/index.js';
import { href, useLive } from '../hooks.js';
import type { LiveQueue, Row } from '../live.js';
import { client } from '../session.js';
import { describeError, ErrorNote, Json, PageTitle, shortId, StatusBadge, Time } from '../ui.js';
import { EnqueueForm } from './enqueue-form.js';

const COUNTERS = [
  ['pending', 'Pending'],
  ['running', 'Running'],
  ['succeeded', 'Succeeded'],
  ['failed', 'Failed'],
  ['cancelled', 'Cancelled'],
] as const;

export function QueuePage({ live }: { live: LiveQueue }) {
  useLive(live);
  return (
    <>
      <PageTitle>My queue</PageTitle>
      <p class="live" role="status">
        {live.live ? 'Live: updates appear as they happen.' : 'Connecting to live updates…'}
      </p>
      <ErrorNote>{live.problem}</ErrorNote>
      <section aria-labelledby="counts-title">
        <h2 id="counts-title">Counts</h2>
        <dl class="counts">
          {COUNTERS.map(([name, label]) => (
            <div key={name} data-count={name}>
              <dt>{label}</dt>
              <dd>{live.stats ? live.stats[name] : '…'}</dd>
            </div>
          ))}
        </dl>
      </section>
      <div class="columns">
        <EnqueueForm live={live} />
        <DequeuePanel live={live} />
      </div>
      <RequestList live={live} />
    </>
  );
}

function RequestList({ live }: { live: LiveQueue }) {
  const rows = live.list();
  return (
    <section aria-labelledby="requests-title">
      <h2 id="requests-title">My requests</h2>
      {rows.length === 0 ? (
        <p>No requests yet: enqueue one above.</p>
      ) : (
        <table class="requests">
          <thead>
            <tr>
              <th scope="col">Request</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col" class="wide">
                Enqueued
              </th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <RequestRow key={row.id} row={row} live={live} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RequestRow({ row, live }: { row: Row; live: LiveQueue }) {
  const [problem, setProblem] = useState<string>();
  const cancel = async () => {
    setProblem(undefined);
    try {
      live.upsert(await client.cancel(row.id), true);
      live.refreshStats();
    } catch (error) {
      setProblem(describeError(error));
    }
  };
  return (
    <tr data-id={row.id} data-status={row.status}>
      <td>
        <a href={href.request(row.id)} class="mono" aria-label={`Request ${row.id}`}>
          {shortId(row.id)}
        </a>
      </td>
      <td>{row.type ?? '…'}</td>
      <td>
        <StatusBadge status={row.status} />
      </td>
      <td class="wide">
        <Time iso={row.enqueuedAt} />
      </td>
      <td>
        {row.status === 'queued' && (
          <button type="button" class="small" onClick={cancel} aria-label={`Cancel request ${shortId(row.id)}`}>
            Cancel
          </button>
        )}
        <ErrorNote>{problem}</ErrorNote>
      </td>
    </tr>
  );
}

/** "Dequeue next result": hands out my oldest finished request not yet dequeued. */
function DequeuePanel({ live }: { live: LiveQueue }) {
  const [taken, setTaken] = useState<RequestView | null>();
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const take = async () => {
    setBusy(true);
    setProblem(undefined);
    try {
      // A short wait, so a result finishing right now is handed out rather than "nothing".
      setTaken((await client.dequeue({ wait: 2 })) ?? null);
      live.refreshStats();
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="dequeue-title">
      <h2 id="dequeue-title">Results</h2>
      <p>Hands out your finished requests one at a time, oldest first.</p>
      <button type="button" onClick={take} disabled={busy}>
        {busy ? 'Waiting…' : 'Dequeue next result'}
      </button>
      <ErrorNote>{problem}</ErrorNote>
      <div aria-live="polite" class="dequeued">
        {taken === null && <p>Nothing finished is waiting.</p>}
        {taken && (
          <div data-dequeued={taken.id}>
            <p>
              <a href={href.request(taken.id)} class="mono">
                {shortId(taken.id)}
              </a>{' '}
              {taken.type} <StatusBadge status={taken.status} />
            </p>
            <Json label="Dequeued result" value={taken.error ?? taken.result} />
          </div>
        )}
      </div>
    </section>
  );
}
