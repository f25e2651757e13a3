-- The archive: the final state of every request, written by workers in batches from the Redis
-- archive streams. json (not jsonb) keeps payloads and results byte for byte as clients sent them,
-- and accepts every valid JSON text, so no payload can wedge the archive.
CREATE TABLE requests (
  id            uuid PRIMARY KEY,
  client_id     text NOT NULL,
  type          text NOT NULL,
  status        text NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
  payload       json,
  result        json,
  error         json,
  attempts      integer NOT NULL,
  max_attempts  integer NOT NULL,
  history       json,
  enqueued_at   timestamptz NOT NULL,
  started_at    timestamptz,
  finished_at   timestamptz NOT NULL,
  archived_at   timestamptz NOT NULL DEFAULT now()
);

-- A client's requests, newest first (uuidv7 ids sort by creation time).
CREATE INDEX requests_client_idx ON requests (client_id, id DESC);
-- Dead letters, for the admin pages.
CREATE INDEX requests_failed_idx ON requests (id DESC) WHERE status = 'failed';
