/** Entry point: `npm start`. Reads the configuration, starts the roles, stops cleanly on signals. */
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './observability/logger.js';
import { startServer } from './server.js';

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

const config = configOrExit();
const logger = createLogger(config.LOG_LEVEL);

// Signals are handled from the start: a worker claims requests before start-up has ended, and a
// SIGTERM then must still give them back (graceful shutdown) rather than kill the process.
const starting = startServer(config, logger);
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

async function shutdown(signal: string): Promise<void> {
  logger.info({ signal }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.error('shutdown grace period exceeded; exiting');
    process.exit(1);
  }, config.SHUTDOWN_GRACE_MS + 5_000);
  deadline.unref();
  // A start-up that fails exits by itself (below).
  const server = await starting.catch(() => undefined);
  if (!server) return;
  await server.close();
  logger.info('stopped');
  process.exit(0);
}

try {
  const server = await starting;
  logger.info({ url: server.url || undefined, role: config.ROLE }, 'laneq is up');
} catch (error) {
  logger.fatal({ err: error }, 'start-up failed');
  process.exit(1);
}
