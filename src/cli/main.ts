#!/usr/bin/env node
/** The `laneq` executable (package.json "bin"): see run.ts and docs/cli.md. */
import { EXIT } from './errors.js';
import { run } from './run.js';

const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
  // `watch` stops on the abort and tidies the terminal; anything else is cut short just after.
  interrupt.abort();
  setTimeout(() => process.exit(EXIT.interrupted), 500).unref();
});
// A reader that went away (`laneq watch | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(EXIT.ok);
});

const code = await run(process.argv.slice(2), process.env, interrupt.signal);
// Exit once stdout has drained, without waiting for idle keep-alive sockets.
process.stdout.write('', () => process.exit(code));
