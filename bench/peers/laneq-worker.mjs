// A laneq worker process for the peer benchmark: what `npm run start:worker` runs (dist/main.js
// calls startServer with ROLE=worker), plus a `ready` message to the driver once it is up.
// Configured entirely by environment variables, HANDLERS naming laneq-handlers.mjs.
import process from 'node:process';
import { loadConfig } from '../../dist/config.js';
import { createLogger } from '../../dist/observability/logger.js';
import { startServer } from '../../dist/server.js';
import { ready } from './recorder.mjs';

const config = loadConfig();
const server = await startServer(config, createLogger(config.LOG_LEVEL));
process.once('SIGTERM', () => {
  void server.close().finally(() => process.exit(0));
});
ready();
