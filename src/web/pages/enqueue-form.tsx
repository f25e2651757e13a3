import { useEffect, useState } from 'preact/hooks';
import { LaneqError, type RequestTypes } from '../../client/index.js';
import { href } from '../hooks.js';
import type { LiveQueue } from '../live.js';
import { client } from '../session.js';
import { describeError, ErrorNote, fieldIssues, shortId } from '../ui.js';

type TypeInfo = RequestTypes['types'][number];
type Field = 'type' | 'payload';
type Problems = Partial<Record<Field | 'form', string>>;

/** The payload the text stands for: empty means none; otherwise it must be JSON. */
function parsePayload(text: string): { payload?: unknown; problem?: string } {
  if (text.trim() === '') return {};
  try {
    return { payload: JSON.parse(text) as unknown };
  } catch (error) {
    return { problem: `Not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}

interface PropertySchema {
  type?: string;
  minimum?: number;
}

interface PayloadSchema {
  type?: string | string[];
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

function sample(property: PropertySchema | undefined): unknown {
  if (property?.type === 'integer' || property?.type === 'number') return property.minimum ?? 0;
  return property?.type === 'string' ? '' : null;
}

/** A hint of the payload a type expects, read off its JSON Schema (its required properties). */
function payloadHint(schema: unknown): string {
  const { type, properties = {}, required = [] } = (schema ?? {}) as PayloadSchema;
  if (type === undefined) return 'any JSON, e.g. {"hello": "world"}';
  if (required.length === 0) return 'none needed';
  return JSON.stringify(Object.fromEntries(required.map((name) => [name, sample(properties[name])])));
}

/**
 * Which field a server error is about: its details name them as `type`, `payload.ms`,
 * `body.payload`… Anything else is shown for the whole form.
 */
function problemsFrom(error: unknown): Problems {
  if (!(error instanceof LaneqError)) return { form: describeError(error) };
  const problems: Problems = {};
  const details = error.details as { field?: unknown } | undefined;
  const named = fieldIssues(error).map((issue) => issue.field);
  if (typeof details?.field === 'string') named.push(details.field);
  for (const field of named) {
    const which = field.replace(/^body\./, '').split(/[.[]/)[0];
    if (which === 'type' || which === 'payload') problems[which] = describeError(error);
  }
  return Object.keys(problems).length > 0 ? problems : { form: describeError(error) };
}

export function EnqueueForm({ live }: { live: LiveQueue }) {
  const [types, setTypes] = useState<TypeInfo[]>([]);
  const [type, setType] = useState('');
  const [payload, setPayload] = useState('');
  const [problems, setProblems] = useState<Problems>({});
  const [accepted, setAccepted] = useState<{ id: string; position: number | undefined }>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client.types().then(
      (answer) => {
        setTypes(answer.types);
        setType((current) => current || (answer.types[0]?.type ?? ''));
      },
      (error: unknown) => setProblems({ form: describeError(error) }),
    );
  }, []);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    setAccepted(undefined);
    const parsed = parsePayload(payload);
    if (parsed.problem) {
      setProblems({ payload: parsed.problem });
      (document.getElementById('payload') as HTMLTextAreaElement | null)?.focus();
      return;
    }
    setBusy(true);
    setProblems({});
    try {
      const answer = await client.enqueue({ type, ...('payload' in parsed ? { payload: parsed.payload } : {}) });
      live.upsert({ id: answer.id, status: answer.status, type }, false);
      live.refreshStats();
      setAccepted({ id: answer.id, position: answer.position });
    } catch (error) {
      setProblems(problemsFrom(error));
    } finally {
      setBusy(false);
    }
  };

  const chosen = types.find((entry) => entry.type === type);
  return (
    <section class="card" aria-labelledby="enqueue-title">
      <h2 id="enqueue-title">Enqueue a request</h2>
      <form onSubmit={submit} noValidate>
        <label for="type">Type</label>
        <select
          id="type"
          value={type}
          onChange={(event) => setType(event.currentTarget.value)}
          aria-invalid={problems.type ? true : undefined}
          aria-describedby={problems.type ? 'type-error type-help' : 'type-help'}
        >
          {types.map((entry) => (
            <option key={entry.type} value={entry.type}>
              {entry.type}
            </option>
          ))}
        </select>
        <p class="help" id="type-help">
          {chosen?.description ?? ' '}
        </p>
        <ErrorNote id="type-error">{problems.type}</ErrorNote>
        <label for="payload">Payload (JSON, optional)</label>
        <textarea
          id="payload"
          rows={3}
          spellcheck={false}
          placeholder={chosen ? payloadHint(chosen.schema) : ''}
          value={payload}
          onInput={(event) => setPayload(event.currentTarget.value)}
          aria-invalid={problems.payload ? true : undefined}
          aria-describedby={problems.payload ? 'payload-error' : undefined}
        />
        <ErrorNote id="payload-error">{problems.payload}</ErrorNote>
        <ErrorNote>{problems.form}</ErrorNote>
        <button type="submit" class="primary" disabled={busy || !type}>
          Enqueue
        </button>
      </form>
      <p role="status" class="accepted">
        {accepted && (
          <>
            Queued <a href={href.request(accepted.id)}>{shortId(accepted.id)}</a>
            {accepted.position !== undefined && ` at position ${accepted.position}`}.
          </>
        )}
      </p>
    </section>
  );
}
