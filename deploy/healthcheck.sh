#!/usr/bin/env bash
# The image's HEALTHCHECK: GET /healthz on the port LICENSD_LISTEN names (default 8080), with bash's /dev/tcp,
# so the runtime image needs no curl. Exit 0 on `200` (licensd answered after a database round trip), 1
# otherwise: no answer, `503` (the database is unreachable), or nothing within 3 seconds.
set -uo pipefail
listen="${LICENSD_LISTEN:-0.0.0.0:8080}"
port="${listen##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || exit 1
exec 3<&-
[[ "$status" == "HTTP/1.1 200"* ]] || exit 1
