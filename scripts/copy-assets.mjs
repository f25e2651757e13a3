// Copies the files tsc does not emit (Lua scripts, SQL migrations) next to the compiled code, so
// that dist/ always runs the scripts it was built with.
import { chmodSync, cpSync } from 'node:fs';

cpSync('src/queue/lua', 'dist/queue/lua', { recursive: true });
cpSync('src/db/migrations', 'dist/db/migrations', { recursive: true });
// The `laneq` command (package.json "bin") runs straight from dist/ too.
chmodSync('dist/cli/main.js', 0o755);
