#!/usr/bin/env bash
# A/B of the client API's hottest request (check, one license, over and over) between two builds, interleaved
# so that the machine's drift hits both alike: each round runs OLD then NEW for SECS seconds. Both servers are
# pinned to core 0 with one tokio worker (wrk on core 1), on SQLite, each on its own seeded database. Prints
# requests/s and the server's CPU time per request (utime+stime from /proc) per round, then the medians.
#   bench/ab_check.sh OLD_BIN NEW_BIN [ROUNDS] [SECS]
#   OLD_ARGS / NEW_ARGS: extra `serve` flags (e.g. NEW_ARGS="--rate-limit off"); by default a binary that knows
#   --rate-limit-client-ip gets unreachable limits, so the limiter's cost is measured but never refuses.
#   OLD_LOG / NEW_LOG: LICENSD_LOG of each server (default warn; `info` writes the access log, to a file).
# Valgrind's instruction counts are steadier still: bench/instructions.sh.
set -euo pipefail
OLD=$1; NEW=$2; ROUNDS=${3:-6}; SECS=${4:-8}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
WORK=$(mktemp -d /tmp/licensd-ab.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
limits() { # the flags that make a binary's limiter unreachable, if it has one
  if "$1" serve --help | grep -q -- --rate-limit-client-ip; then
    echo "--rate-limit-client-ip 1000000/s --rate-limit-client-key 1000000/s --rate-limit-token 1000000/s"
  fi
}
start() { # name, binary, extra args -> URL in $WORK/name.url
  local name=$1 bin=$2 extra=$3 log=$4 dir=$WORK/$1
  mkdir -p "$dir"
  # `migrate` creates the database (other commands refuse a missing one); binaries older than it create it themselves.
  "$bin" migrate --db "sqlite://$dir/b.db" > /dev/null 2>&1 || true
  "$bin" dev seed --db "sqlite://$dir/b.db" --licenses 2000 --keys-out "$dir/keys.txt" >/dev/null 2>&1
  awk 'NF == 3 {print; exit}' "$dir/keys.txt" > "$dir/hot.txt"
  # shellcheck disable=SC2086
  TOKIO_WORKER_THREADS=1 LICENSD_LOG=$log taskset -c 0 "$bin" serve --db "sqlite://$dir/b.db" --listen 127.0.0.1:0 \
    $extra > "$dir/serve.out" 2>"$dir/serve.err" &
  PIDS+=($!)
  echo $! > "$dir/pid"
  for _ in $(seq 100); do grep -q listening "$dir/serve.out" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^licensd listening on //p' "$dir/serve.out" > "$dir/url"
}
run() { # name -> "rps cpu_us_per_request"
  local dir=$WORK/$1 pid ticks0 ticks1 out reqs rps key product hw
  pid=$(cat "$dir/pid")
  read -r key product hw < "$dir/hot.txt"
  ticks0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" -s bench/check_hot.lua "$(cat "$dir/url")" -- "$key" "$product" "$hw")
  ticks1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  reqs=$(awk '/requests in/ {print $1}' <<< "$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$out")
  awk -v r="$rps" -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN {printf "%.0f %.1f\n", r, t / hz * 1e6 / n}'
}
start old "$OLD" "${OLD_ARGS-$(limits "$OLD")}" "${OLD_LOG:-warn}"
start new "$NEW" "${NEW_ARGS-$(limits "$NEW")}" "${NEW_LOG:-warn}"
echo "| round | old check/s | old CPU µs/check | new check/s | new CPU µs/check |"
echo "| ---: | ---: | ---: | ---: | ---: |"
for i in $(seq "$ROUNDS"); do
  read -r orps ocpu < <(run old)
  read -r nrps ncpu < <(run new)
  echo "| $i | $orps | $ocpu | $nrps | $ncpu |"
  echo "$orps $ocpu $nrps $ncpu" >> "$WORK/all"
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
o=$(awk '{print $1}' "$WORK/all" | median); n=$(awk '{print $3}' "$WORK/all" | median)
oc=$(awk '{print $2}' "$WORK/all" | median); nc=$(awk '{print $4}' "$WORK/all" | median)
echo "| median | $o | $oc | $n | $nc |"
awk -v o="$o" -v n="$n" 'BEGIN {printf "\nnew/old throughput: %.3f (%+.1f%%)\n", n / o, (n / o - 1) * 100}'
