#!/usr/bin/env bash
# Instructions Redis executes per request for the hot scripts, counted by valgrind (callgrind):
#   bench/redis-instructions.sh [scripts-cost options, e.g. --clients 100 --per-client 100]
# Unlike CPU seconds, the count does not move with the load of a shared machine, so two versions
# of the scripts compare in one run each (±0.1%). Runs a private redis-server under valgrind on
# port 6393 (about 20 s for 10,000 requests). Needs: apt-get install valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
port=6393
dir=$(mktemp -d)
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
# hz 1: the server's timer work grows with the (slowed-down) wall time, not with the requests.
valgrind --tool=callgrind --callgrind-out-file="$dir/out" \
  redis-server --port "$port" --save "" --appendonly no --hz 1 >"$dir/valgrind.log" 2>&1 &
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
requests=$(npx tsx bench/scripts-cost.ts --redis "redis://127.0.0.1:$port" --callgrind "$@" | grep -o '^[0-9]* requests' | grep -o '[0-9]*')
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
wait
count() { grep -h '^totals\|^summary' "$dir/out.$1" | tail -1 | grep -o '[0-9]*'; }
echo "$requests requests: Redis instructions per request: enqueue $(($(count 2) / requests)), claim + complete $(($(count 3) / requests))"
