#!/usr/bin/env bash
# `make dev`: the local stack, then the local gateway in the foreground.
#
# A function that cannot start stops everything at once, with its error on the terminal,
# and the stack is stopped again if this run started it. Ctrl-C stops the gateway and its
# functions and leaves the stack running with its data for the next `make dev`;
# `make stop` stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
started=true
"$root/infra/local-stack.sh" status && started=false
env_lines=$("$root/infra/local-stack.sh" up)
set -a
eval "$env_lines"
set +a
# Ctrl-C reaches the gateway (same process group); this script carries on to report.
trap 'true' INT
status=0
"$root/target/debug/local-gateway" || status=$?
if [ "$status" -eq 130 ] || [ "$status" -eq 0 ]; then
  if "$root/infra/local-stack.sh" status; then
    echo "local gateway stopped; the local stack keeps running with its data (make stop stops it)" >&2
  else
    echo "local gateway stopped" >&2
  fi
  exit 0
fi
if $started; then
  "$root/infra/local-stack.sh" down
fi
exit "$status"
