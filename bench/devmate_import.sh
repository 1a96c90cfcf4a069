#!/usr/bin/env bash
# DevMate import benchmark (issue 6): generates an export of N customers, times `licensd import devmate`
# into an empty database, the re-import of the same file (changes nothing), and `licensd export devmate`,
# and checks that the export equals the file.
#   bench/devmate_import.sh [CUSTOMERS] [DB_URL]     (default 100000, a temporary SQLite file)
# DB_URL, when given, must name an empty database.
set -euo pipefail
cd "$(dirname "$0")/.."
CUSTOMERS=${1:-100000}
WORK=$(mktemp -d /tmp/licensd-devmate.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
DB=${2:-sqlite://$WORK/import.db}
cargo build --release -q
BIN=target/release/licensd
export LICENSD_LOG=warn
"$BIN" dev devmate-file --customers "$CUSTOMERS" --out "$WORK/export.json"
echo "file: $(du -h "$WORK/export.json" | cut -f1), $CUSTOMERS customers; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Wall time, and the CPU time licensd itself used (what a busy machine does not inflate).
t() { local TIMEFORMAT='%R s wall, %U s user + %S s sys CPU'; time "$@"; }
"$BIN" migrate --db "$DB" > /dev/null 2>&1 || true   # creates the database (older binaries: import does)
echo "import:" >&2;    t "$BIN" import devmate "$WORK/export.json" --db "$DB"
echo "re-import:" >&2; t "$BIN" import devmate "$WORK/export.json" --db "$DB"
echo "export:" >&2;    t "$BIN" export devmate --db "$DB" --out "$WORK/back.json"
python3 - "$WORK/export.json" "$WORK/back.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print("export equals the imported file" if a == b else "EXPORT DIFFERS", file=sys.stderr)
sys.exit(a != b)
PY
echo "db: ${DB%%://*}; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
