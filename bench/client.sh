#!/usr/bin/env bash
# Client API benchmark (issue 4): wrk on loopback against a release build over SQLite (or the --db given),
# server pinned to core 0 with one tokio worker, wrk pinned to core 1.
#   bench/client.sh [LICENSES] [DURATION] [DB_URL]
#   LICENSD_SERVE_ARGS="--sqlite-synchronous normal" bench/client.sh   # extra serve flags
# Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
LICENSES=${1:-100000}
DURATION=${2:-20s}
WORK=$(mktemp -d /tmp/licensd-bench.XXXXXX)
DB=${3:-sqlite://$WORK/bench.db}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# LICENSD_BIN runs a binary built elsewhere (another profile, another commit) instead of building this one.
if [ -z "${LICENSD_BIN:-}" ]; then cargo build --release -q; fi
BIN=${LICENSD_BIN:-target/release/licensd}

# `migrate` creates the database (other commands refuse a missing one); binaries older than it create it themselves.
"$BIN" migrate --db "$DB" > /dev/null 2>&1 || true
"$BIN" dev seed --db "$DB" --licenses "$LICENSES" --keys-out "$WORK/keys.txt" 2>&1 | tail -n 1 >&2
grep -E '^\S+ \S+ \S+$' "$WORK/keys.txt" > "$WORK/activated.txt"
TOKEN=$("$BIN" token create --db "$DB" --name bench --role admin | tail -n 1)

# The rate limiter stays on (its cost is part of what is measured) with limits no benchmark reaches: one load
# generator is one address and hammers one key. LIMITS=off measures without it.
# LIMITS=none passes no limit flags at all (for binaries older than the rate limiter).
LIMITS=${LIMITS:-on}
if [ "$LIMITS" = none ]; then LIMIT_FLAGS=""; elif [ "$LIMITS" = off ]; then LIMIT_FLAGS="--rate-limit off"; else
  LIMIT_FLAGS="--rate-limit-client-ip 1000000/s --rate-limit-client-key 1000000/s --rate-limit-token 1000000/s"; fi
# LICENSD_SERVE_ARGS: extra `serve` flags, split on spaces (e.g. "--sqlite-synchronous normal" to measure
# what the durable default costs); LICENSD_* variables in the environment reach the server as they are.
read -r -a SERVE_ARGS <<< "${LICENSD_SERVE_ARGS:-}"
# shellcheck disable=SC2086
TOKIO_WORKER_THREADS=1 LICENSD_LOG=warn taskset -c 0 "$BIN" serve --db "$DB" --listen 127.0.0.1:0 $LIMIT_FLAGS ${SERVE_ARGS[@]+"${SERVE_ARGS[@]}"} > "$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^licensd listening on //p' "$WORK/serve.out")

read -r HOT_KEY HOT_PRODUCT HOT_HW < <(head -n 1 "$WORK/activated.txt")
ACT_KEY=$(curl -s -H "Authorization: Bearer $TOKEN" -X POST "$URL/api/v1/licenses" \
  -d '{"product": "studio", "max_activations": null}' | sed -n 's/.*"license_key":"\([^"]*\)".*/\1/p')

run() { # name, wrk args...
  local name=$1; shift
  taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" > "$WORK/$name.txt"
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/$name.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/$name.txt")
  errors=$(awk '/Non-2xx/ {print $NF}' "$WORK/$name.txt")
  echo "$name $rps $p50 $p99 ${errors:-0}"
}

{
  run healthz "$URL/healthz"
  run check_hot -s bench/check_hot.lua "$URL" -- "$HOT_KEY" "$HOT_PRODUCT" "$HOT_HW"
  run check_spread -s bench/check_spread.lua "$URL" -- "$WORK/activated.txt"
  run activate -s bench/activate.lua "$URL" -- "$ACT_KEY" studio
} > "$WORK/results.txt"

HEALTH=$(awk '$1 == "healthz" {print $2}' "$WORK/results.txt")
echo "| scenario | requests/s | ratio to /healthz | p50 | p99 | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
while read -r name rps p50 p99 errors; do
  ratio=$(awk -v a="$rps" -v b="$HEALTH" 'BEGIN {printf "%.2f", a / b}')
  echo "| $name | $rps | $ratio | $p50 | $p99 | $errors |"
done < "$WORK/results.txt"
echo
echo "licenses: $LICENSES, connections: $CONNS, duration: $DURATION each, db: ${DB%%://*}, $(nproc) cores${LICENSD_SERVE_ARGS:+, serve $LICENSD_SERVE_ARGS}"
