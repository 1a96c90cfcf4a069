#!/usr/bin/env bash
# License search benchmark (issue 5): seeds N licenses, starts a release licensd, times every filter.
#   bench/search.sh [LICENSES] [DB_URL]     (default 1000000, a temporary SQLite file)
#   LICENSD_BIN=path: that binary instead of building this tree's (to compare builds); RUNS: times per filter.
set -euo pipefail
cd "$(dirname "$0")/.."
LICENSES=${1:-1000000}
WORK=$(mktemp -d /tmp/licensd-search.XXXXXX)
DB=${2:-sqlite://$WORK/search.db}
if [ -z "${LICENSD_BIN:-}" ]; then cargo build --release -q; fi
BIN=${LICENSD_BIN:-target/release/licensd}
start=$(date +%s)
# `migrate` creates the database (other commands refuse a missing one); binaries older than it create it themselves.
"$BIN" migrate --db "$DB" > /dev/null 2>&1 || true
"$BIN" dev seed --db "$DB" --licenses "$LICENSES" 2>&1 | tail -n 1 >&2
echo "seeding took $(( $(date +%s) - start )) s" >&2
TOKEN=$("$BIN" token create --db "$DB" --name bench --role admin | tail -n 1)
# One token runs every query: the per-token rate limit is raised out of the way.
LICENSD_LOG=warn "$BIN" serve --db "$DB" --listen 127.0.0.1:0 --rate-limit-token 1000000/s > "$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^licensd listening on //p' "$WORK/serve.out")
python3 bench/search.py "$URL" "$TOKEN" "${RUNS:-15}"
echo "db: ${DB%%://*}"
