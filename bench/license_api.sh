#!/usr/bin/env bash
# LicenseSpring's License API v4 (issue 15): RSA-signed answers against licensd's own Ed25519-signed client API,
# in one run. wrk on loopback against a release build over SQLite (or the DB_URL given); the server pinned to
# core 0 with one tokio worker, wrk pinned to core 1 (as bench/client.sh).
#   bench/license_api.sh [LICENSES] [DURATION] [DB_URL]
# Prints a Markdown table for docs/benchmarks.md: the RSA signing ceiling of one core (`licensd dev rsa-speed`,
# the server's library and key size), then each scenario's requests/s and its ratio to that ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
LICENSES=${1:-100000}
DURATION=${2:-20s}
WORK=$(mktemp -d /tmp/licensd-bench-v4.XXXXXX)
DB=${3:-sqlite://$WORK/bench.db}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -z "${LICENSD_BIN:-}" ]; then cargo build --release -q -p licensd; fi
BIN=${LICENSD_BIN:-target/release/licensd}

"$BIN" migrate --db "$DB" > /dev/null 2>&1 || true
"$BIN" dev seed --db "$DB" --licenses "$LICENSES" --keys-out "$WORK/keys.txt" 2>&1 | tail -n 1 >&2
grep -E '^\S+ \S+ \S+$' "$WORK/keys.txt" > "$WORK/activated.txt"
TOKEN=$("$BIN" token create --db "$DB" --name bench --role admin | tail -n 1)
"$BIN" api-key create --db "$DB" --name bench --json > "$WORK/api-key.json" 2>/dev/null
read -r API_KEY SHARED < <(python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); print(k["api_key"], k["shared_key"])' "$WORK/api-key.json")
# One Date and its signature for the whole run (the server accepts a Date up to 15 minutes old).
read -r DATE_B64 AUTH_B64 < <(python3 - "$API_KEY" "$SHARED" <<'PY'
import base64, hashlib, hmac, sys, time
from wsgiref.handlers import format_date_time
api_key, shared = sys.argv[1], sys.argv[2]
date = format_date_time(time.time())
sig = base64.b64encode(hmac.new(shared.encode(), f"licenseSpring\ndate: {date}".encode(), hashlib.sha256).digest()).decode()
auth = f'algorithm="hmac-sha256",headers="date",signature="{sig}",apiKey="{api_key}"'
print(base64.b64encode(date.encode()).decode(), base64.b64encode(auth.encode()).decode())
PY
)
DATE=$(echo "$DATE_B64" | base64 -d)
AUTH=$(echo "$AUTH_B64" | base64 -d)

TOKIO_WORKER_THREADS=1 LICENSD_LOG=warn taskset -c 0 "$BIN" serve --db "$DB" --listen 127.0.0.1:0 \
  --rate-limit-client-ip 1000000/s --rate-limit-client-key 1000000/s --rate-limit-token 1000000/s \
  > "$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(sed -n 's/^licensd listening on //p' "$WORK/serve.out")
read -r HOT_KEY HOT_PRODUCT HOT_HW < <(head -n 1 "$WORK/activated.txt")
ACT_KEY=$(curl -s -H "Authorization: Bearer $TOKEN" -X POST "$URL/api/v1/licenses" \
  -d '{"product": "studio", "max_activations": null}' | sed -n 's/.*"license_key":"\([^"]*\)".*/\1/p')
DEVICES=$(wc -l < "$WORK/activated.txt")

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

CEILING=$(taskset -c 0 "$BIN" dev rsa-speed --seconds 5 | sed -n 's/.*: \([0-9]*\) signatures\/s/\1/p')
{
  run v4_check_hot -s bench/v4_check.lua "$URL" -- "$DATE" "$AUTH" "$WORK/activated.txt" hot
  # The first check of each device after a start signs twice (the answer, and the v1 signature it then keeps).
  run v4_check_spread_cold -s bench/v4_check.lua "$URL" -- "$DATE" "$AUTH" "$WORK/activated.txt" walk
  # Every device checked once before: the v1 signature cached, one signature per answer.
  taskset -c 1 wrk -t1 -c"$CONNS" -d600s -s bench/v4_check.lua "$URL" -- "$DATE" "$AUTH" "$WORK/activated.txt" walk > /dev/null &
  WARM=$!
  # A walk over every device: stop once each was checked (the server's log counts nothing; time it).
  sleep "$(python3 -c "print(max(5, $DEVICES / 800))")"
  kill $WARM 2>/dev/null || true
  run v4_check_spread -s bench/v4_check.lua "$URL" -- "$DATE" "$AUTH" "$WORK/activated.txt" random
  run v4_activate -s bench/v4_activate.lua "$URL" -- "$DATE" "$AUTH" "$ACT_KEY" studio
  run v1_check_hot -s bench/check_hot.lua "$URL" -- "$HOT_KEY" "$HOT_PRODUCT" "$HOT_HW"
  run v1_check_spread -s bench/check_spread.lua "$URL" -- "$WORK/activated.txt"
} > "$WORK/results.txt"

echo "RSA-2048 signing ceiling, one core: $CEILING signatures/s"
echo
echo "| scenario | requests/s | ratio to the ceiling | p50 | p99 | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
while read -r name rps p50 p99 errors; do
  ratio=$(awk -v a="$rps" -v b="$CEILING" 'BEGIN {printf "%.2f", a / b}')
  echo "| $name | $rps | $ratio | $p50 | $p99 | $errors |"
done < "$WORK/results.txt"
echo
echo "licenses: $LICENSES ($DEVICES activated devices), connections: $CONNS, duration: $DURATION each, db: ${DB%%://*}, $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
