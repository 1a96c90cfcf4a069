#!/usr/bin/env bash
# Instructions per client `check` (one license, over and over) under valgrind's callgrind: a count that does not
# depend on the machine's load, for comparing builds where throughput runs are too noisy. User-space only
# (system calls and cache misses are not in it), and valgrind hides some CPU features (SHA-256 runs in software
# here, where the real CPU has SHA extensions), so read differences, not absolutes.
#   bench/instructions.sh BIN [extra serve flags...]
#   LOG: LICENSD_LOG of the server (default warn; `info` adds the access log, written to a file).
#   KEEP=DIR: copy the callgrind profile there (for callgrind_annotate, to compare builds by function).
set -euo pipefail
BIN=$1; shift
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
WORK=$(mktemp -d /tmp/licensd-ir.XXXXXX)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
# `migrate` creates the database (other commands refuse a missing one); binaries older than it create it themselves.
"$BIN" migrate --db "sqlite://$WORK/b.db" > /dev/null 2>&1 || true
"$BIN" dev seed --db "sqlite://$WORK/b.db" --licenses 2000 --keys-out "$WORK/keys.txt" >/dev/null 2>&1
read -r KEY PRODUCT HW < <(awk 'NF == 3 {print; exit}' "$WORK/keys.txt")
TOKIO_WORKER_THREADS=1 LICENSD_LOG=${LOG:-warn} valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
  "$BIN" serve --db "sqlite://$WORK/b.db" --listen 127.0.0.1:0 "$@" > "$WORK/serve.out" 2> "$WORK/vg.err" &
PID=$!
for _ in $(seq 200); do grep -q listening "$WORK/serve.out" 2>/dev/null && break; sleep 0.5; done
URL=$(sed -n 's/^licensd listening on //p' "$WORK/serve.out")
wrk -t1 -c8 -d3s -s bench/check_hot.lua "$URL" -- "$KEY" "$PRODUCT" "$HW" > /dev/null   # warm up
callgrind_control -z "$PID" > /dev/null
OUT=$(wrk -t1 -c8 -d10s -s bench/check_hot.lua "$URL" -- "$KEY" "$PRODUCT" "$HW")
callgrind_control -d "$PID" > /dev/null
sleep 1
REQS=$(awk '/requests in/ {print $1}' <<< "$OUT")
IR=$(cat "$WORK"/cg.out.* | awk '/^summary:/ {s += $2} END {printf "%.0f\n", s}')
echo "$REQS checks, $((IR / REQS)) instructions per check"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/cg.out.* "$KEEP"/; fi
