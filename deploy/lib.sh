# Common paths and helpers for the local infrastructure scripts. Sourced, not run.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
# shellcheck source=versions.env
source "$DEPLOY_DIR/versions.env"

# Downloaded and built artefacts live outside the checkout, shared by every clone on the machine.
CACHE_DIR="${QHWY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/qhwy}"

# Broker and store data: QHWY_DATA_DIR (default var/ in the checkout); relative paths are taken from the checkout.
DATA_DIR="${QHWY_DATA_DIR:-var}"
case "$DATA_DIR" in /*) ;; *) DATA_DIR="$REPO_DIR/$DATA_DIR" ;; esac
RUN_DIR="$DATA_DIR/run"

# Endpoints, from the same variables the services read.
KAFKA_BOOTSTRAP="${QHWY_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
KAFKA_HOST="${KAFKA_BOOTSTRAP%%:*}"
KAFKA_PORT="${KAFKA_BOOTSTRAP##*:}"
KAFKA_CONTROLLER_PORT="${QHWY_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
MONGO_URL="${QHWY_MONGO_URL:-mongodb://127.0.0.1:27017}"
_mongo_hostport="${MONGO_URL#mongodb://}"; _mongo_hostport="${_mongo_hostport%%/*}"; _mongo_hostport="${_mongo_hostport%%\?*}"
MONGO_HOST="${_mongo_hostport%%:*}"
MONGO_PORT="${_mongo_hostport##*:}"

log() { printf '[deploy] %s\n' "$*" >&2; }
die() { printf '[deploy] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pidfile() {
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; log "$name is not running"; return 0; fi
  pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 30 s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
}
