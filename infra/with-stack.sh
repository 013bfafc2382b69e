#!/usr/bin/env bash
# Runs a command with the local stack up and its environment exported, then stops the
# stack again if this script started it (a stack left running by `make dev` is kept).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
started=true
"$here/local-stack.sh" status && started=false
env_lines=$("$here/local-stack.sh" up)
if $started; then
  trap '"$here/local-stack.sh" down' EXIT
fi
set -a
eval "$env_lines"
set +a
"$@"
