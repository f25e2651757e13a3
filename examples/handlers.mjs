// A user handler module: run it with HANDLERS=./examples/handlers.mjs (comma-separate several).
// Each entry maps a request type to its payload's JSON Schema (checked when the request is
// enqueued; unknown fields are refused) and the function that runs it. Throw to fail the attempt
// (it is retried with backoff up to maxAttempts); honour `signal`, which aborts on timeout.
export const handlers = {
  'text.upper': {
    description: 'Upper-cases a text.',
    schema: {
      type: 'object',
      properties: { text: { type: 'string', maxLength: 10000 } },
      required: ['text'],
    },
    run: ({ text }) => ({ text: text.toUpperCase() }),
  },
  'text.wordcount': {
    description: 'Counts the words of a text.',
    schema: {
      type: 'object',
      properties: { text: { type: 'string', maxLength: 100000 } },
      required: ['text'],
    },
    run: ({ text }, { log }) => {
      const words = text.split(/\s+/).filter(Boolean).length;
      log.debug({ words }, 'counted');
      return { words };
    },
  },
};
