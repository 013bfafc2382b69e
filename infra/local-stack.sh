#!/usr/bin/env bash
# The local AWS stack: moto server on a free loopback port, speaking DynamoDB and
# Secrets Manager, with the users table and the Clerk secret provisioned.
#
#   LOCAL_STACK_PORT=4566          a fixed port instead of a free one
#   LOCAL_STACK_HOST=0.0.0.0       listen beyond loopback (for `sam local` containers; it
#                                  exposes the stack to your network: use only on a trusted one)
#
#   infra/local-stack.sh up       start (or reuse) it; print the environment, KEY=VALUE lines
#   infra/local-stack.sh down     stop it and remove its state
#   infra/local-stack.sh status   exit 0 when it is running
#
# Progress goes to stderr, so `eval`/`source` of stdout is safe. State lives in .local/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.local"
pid_file="$state/moto.pid"
port_file="$state/moto.port"
env_file="$state/stack.env"
py="$root/.venv/bin/python"

export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export USERS_TABLE=${USERS_TABLE:-clerk-auth-users-local}
export CLERK_SECRET_NAME=${CLERK_SECRET_NAME:-clerk-auth/local}

log() { echo "local-stack: $*" >&2; }

running() {
  [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

host=${LOCAL_STACK_HOST:-127.0.0.1}

responds() {
  "$py" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/data.json", timeout=1).read()
PY
}

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

up() {
  "$root/infra/venv.sh"
  mkdir -p "$state"
  local port
  if running && responds "$(cat "$port_file")"; then
    port=$(cat "$port_file")
    log "reusing moto server on port $port"
    if [ -n "${LOCAL_STACK_PORT:-}" ] && [ "$LOCAL_STACK_PORT" != "$port" ]; then
      log "it is not on LOCAL_STACK_PORT=$LOCAL_STACK_PORT: run make stack-down first"
      exit 1
    fi
  else
    stop_quietly
    port=${LOCAL_STACK_PORT:-$(free_port)}
    # Its own session, so `down` can end the whole process group. moto's server, with
    # transactions that back up only the items they touch (infra/moto-server.py says why).
    setsid "$root/.venv/bin/python" "$root/infra/moto-server.py" -H "$host" -p "$port" \
      >"$state/moto.log" 2>&1 < /dev/null &
    echo $! > "$pid_file"
    echo "$port" > "$port_file"
    for _ in $(seq 1 100); do
      responds "$port" && break
      running || { log "moto server exited; see $state/moto.log"; exit 1; }
      sleep 0.1
    done
    responds "$port" || { log "moto server did not answer on port $port"; stop_quietly; exit 1; }
    log "moto server on $host:$port (pid $(cat "$pid_file"))"
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  local arn
  arn=$("$py" "$root/infra/provision.py")
  cat > "$env_file" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_DEFAULT_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_EC2_METADATA_DISABLED=true
USERS_TABLE=$USERS_TABLE
CLERK_SECRET_ARN=$arn
ENV
  cat "$env_file"
}

stop_quietly() {
  if [ -f "$pid_file" ]; then
    local pid
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pid_file" "$port_file" "$env_file"
}

case "${1:-}" in
  up) up ;;
  down) stop_quietly; log "stopped" ;;
  status) running ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
