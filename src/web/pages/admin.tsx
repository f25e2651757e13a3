import { useEffect, useState } from 'preact/hooks';
import type { DeadLetterPage, QueueOverview } from '../../client/index.js';
import { href } from '../hooks.js';
import { client } from '../session.js';
import { describeError, ErrorNote, PageTitle, shortId, Time } from '../ui.js';

type DeadLetter = DeadLetterPage['deadLetters'][number];

const TOTALS: [keyof QueueOverview['totals'], string][] = [
  ['pending', 'Pending'],
  ['running', 'Running'],
  ['waitingRetry', 'Waiting to retry'],
  ['deadLettered', 'Dead letters'],
  ['clientsWithWork', 'Clients with work'],
];

/** Operators: queue totals, the deepest queues and dead letters (with retry). Role admin only. */
export function AdminPage() {
  const [overview, setOverview] = useState<QueueOverview>();
  const [letters, setLetters] = useState<DeadLetter[]>([]);
  const [cursor, setCursor] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const [notice, setNotice] = useState<string>();
  // A retried dead letter stays listed (from the archive) until its new end is archived.
  const [retried, setRetried] = useState<ReadonlySet<string>>(new Set());

  const load = async (after?: string) => {
    setProblem(undefined);
    try {
      const [totals, page] = await Promise.all([client.admin.overview({ top: 10 }), client.admin.deadLetters({ limit: 20, cursor: after })]);
      setOverview(totals);
      setLetters((shown) => (after ? [...shown, ...page.deadLetters] : page.deadLetters));
      setCursor(page.nextCursor);
    } catch (error) {
      setProblem(describeError(error));
    }
  };
  useEffect(() => void load(), []);

  const retry = async (letter: DeadLetter) => {
    setProblem(undefined);
    setNotice(undefined);
    try {
      const requeued = await client.admin.retry(letter.id);
      setRetried((ids) => new Set([...ids, requeued.id]));
      setNotice(`Request ${shortId(requeued.id)} is queued again at position ${requeued.position} of its client's queue.`);
      await load();
    } catch (error) {
      setProblem(describeError(error));
    }
  };

  return (
    <>
      <PageTitle>Administration</PageTitle>
      <p>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </p>
      <ErrorNote>{problem}</ErrorNote>
      <p role="status" class="notice-line">
        {notice}
      </p>
      <section aria-labelledby="totals-title">
        <h2 id="totals-title">Queue totals</h2>
        <dl class="counts">
          {TOTALS.map(([key, label]) => (
            <div key={key} data-count={key}>
              <dt>{label}</dt>
              <dd>{overview ? overview.totals[key] : '…'}</dd>
            </div>
          ))}
        </dl>
        {overview && !overview.complete && <p class="help">Partial: the scan of client queues stopped at its bound.</p>}
      </section>
      <section aria-labelledby="deepest-title">
        <h2 id="deepest-title">Deepest queues</h2>
        {overview?.deepestQueues.length === 0 && <p>No client has pending work.</p>}
        {overview && overview.deepestQueues.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">Client</th>
                <th scope="col">Pending</th>
              </tr>
            </thead>
            <tbody>
              {overview.deepestQueues.map((queue) => (
                <tr key={queue.clientId}>
                  <td class="mono">{queue.clientId}</td>
                  <td>{queue.pending}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="dead-title">
        <h2 id="dead-title">Dead letters</h2>
        {letters.length === 0 && <p>No dead letters.</p>}
        <ul class="letters">
          {letters.map((letter) => (
            <li key={letter.id} class="card" data-id={letter.id}>
              <p>
                <span class="mono">{shortId(letter.id)}</span> <strong>{letter.type}</strong> of client{' '}
                <span class="mono">{shortId(letter.clientId)}</span>, failed <Time iso={letter.finishedAt} /> after{' '}
                {letter.attempts} of {letter.maxAttempts} attempts
              </p>
              <p class="error">{letter.error?.message ?? 'No error recorded.'}</p>
              {retried.has(letter.id) ? (
                <p class="notice">Queued again.</p>
              ) : (
                <button type="button" onClick={() => void retry(letter)} aria-label={`Retry request ${shortId(letter.id)}`}>
                  Retry
                </button>
              )}
            </li>
          ))}
        </ul>
        {cursor && (
          <button type="button" onClick={() => void load(cursor)}>
            Show more
          </button>
        )}
      </section>
      <p>
        <a href={href.queue}>← My queue</a>
      </p>
    </>
  );
}
