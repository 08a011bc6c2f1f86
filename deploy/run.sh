#!/usr/bin/env bash
# The all-in-one run: the local broker and store, then all services in one process on QHWY_HTTP_PORT.
# SIGINT or SIGTERM stops the services first, then the broker and store this script started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PY="${QHWY_PYTHON:-$REPO_DIR/.venv/bin/python}"

started_infra=0
"$DEPLOY_DIR/infra.sh" status >/dev/null 2>&1 || started_infra=1
"$DEPLOY_DIR/infra.sh" up

app_pid=""
shutdown() {
  trap - INT TERM
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    log "stopping the services"
    kill -TERM "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
  fi
  if [ "$started_infra" = 1 ]; then "$DEPLOY_DIR/infra.sh" down; fi
  log "stopped"
}
trap 'shutdown; exit 0' INT TERM

cd "$REPO_DIR"
log "starting all services on http://${QHWY_HTTP_HOST:-127.0.0.1}:${QHWY_HTTP_PORT:-8000} (Ctrl-C stops everything)"
# sync talks to the city platform and hotline simulator mounted at /sim unless real endpoints are configured.
export QHWY_CITY_SIMULATOR="${QHWY_CITY_SIMULATOR:-1}"
setsid "$PY" -m services &
app_pid=$!
set +e
wait "$app_pid"
rc=$?
set -e
# Reached when the services exit by themselves (not through a signal to this script).
app_pid=""
shutdown
exit "$rc"
