#!/usr/bin/env bash
# Server-side time of the dashboard's pages on a seeded database: each page fetched RUNS times (after one warm-up)
# by a signed-in admin over loopback, curl's total time per request (loopback adds ~0.1 ms), p50 / p95 / max.
#   bench/dashboard.sh BIN DB_URL KEYS_FILE        (KEYS_FILE: `dev seed --keys-out`, for a real key and device)
#   RUNS (default 20); SETTLE seconds to wait after start (default 20: `serve` reads every license key once at
#   start to warn about guessable ones, ~10 s at 1M licenses, off the request path but on the same disk). Seed first: licensd migrate --db URL; licensd dev seed --db URL --licenses 1000000 --keys-out K
set -euo pipefail
BIN=$1; DB=$2; KEYS=$3; RUNS=${RUNS:-20}
WORK=$(mktemp -d /tmp/licensd-dash.XXXXXX)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
echo "bench password 1" | "$BIN" user create --db "$DB" --email bench@example.com --role admin --password-stdin >/dev/null 2>&1 || true
LICENSD_LOG=warn "$BIN" serve --db "$DB" --listen 127.0.0.1:0 --rate-limit off > "$WORK/serve.out" 2> "$WORK/serve.err" &
PID=$!
for _ in $(seq 200); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.2; done
URL=$(sed -n 's/^licensd listening on //p' "$WORK/serve.out")
sleep "${SETTLE:-20}"
curl -s -c "$WORK/jar" -o /dev/null -d "email=bench@example.com&password=bench+password+1" "$URL/ui/login"
# The home page's first view after start counts the licenses (later views reuse the count for 30 s).
COLD=$(curl -s -b "$WORK/jar" -o /dev/null -w '%{time_total}' "$URL/")
read -r KEY _ HW < <(awk 'NF == 3 {print; exit}' "$KEYS")
# A license with a device, its customer, and that customer's email.
LID=$(curl -s -b "$WORK/jar" "$URL/ui/search?q=$KEY" | grep -o 'href="/ui/licenses/[0-9]*"' | head -1 | grep -o '[0-9]*')
CID=$(curl -s -b "$WORK/jar" "$URL/ui/licenses/$LID" | grep -o 'href="/ui/customers/[0-9]*"' | head -1 | grep -o '[0-9]*')
EMAIL=$(curl -s -b "$WORK/jar" "$URL/ui/customers/$CID" | grep -o '<dt>Email</dt><dd>[^<]*' | sed 's/.*<dd>//')
NAME=$(echo "$EMAIL" | cut -d@ -f1 | cut -d. -f1)
pages=(
  "home|/"
  "search: email|/ui/search?q=$EMAIL"
  "search: name|/ui/search?q=$NAME"
  "search: key|/ui/search?q=$KEY"
  "search: hardware id|/ui/search?q=$HW"
  "license page|/ui/licenses/$LID"
  "customer page|/ui/customers/$CID"
  "licenses list|/ui/licenses"
  "licenses list, page 2000|/ui/licenses?offset=100000"
  "licenses list, disabled|/ui/licenses?enabled=false"
  "licenses list, disabled, expiring first|/ui/licenses?enabled=false&order_by=validity_period"
  "licenses list, by product|/ui/licenses?product__short_code=vpn"
  "activity|/ui/activity"
  "activity, one action|/ui/activity?action=license.disabled"
)
echo "| page | p50 ms | p95 ms | max ms | status |"
echo "| --- | ---: | ---: | ---: | --- |"
awk -v t="$COLD" 'BEGIN {printf "| home, first view after start (counts the licenses) | %.1f | | | 200 |\n", t*1000}'
for entry in "${pages[@]}"; do
  name=${entry%%|*}; path=${entry#*|}
  code=$(curl -s -b "$WORK/jar" -o /dev/null -w '%{http_code}' "$URL$path")
  for _ in $(seq "$RUNS"); do curl -s -b "$WORK/jar" -o /dev/null -w '%{time_total}\n' "$URL$path"; done | sort -n |
    awk -v n="$name" -v c="$code" '{t[NR]=$1*1000} END {p50=t[int((NR+1)/2)]; p95=t[int(NR*0.95+0.5)]; printf "| %s | %.1f | %.1f | %.1f | %s |\n", n, p50, p95, t[NR], c}'
done
