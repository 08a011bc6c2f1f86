#!/usr/bin/env bash
# The compose topology as local processes (make run-compose-local): every service as its own process
# (`python -m services.<name>`) on its own port, behind Debian's nginx with deploy/nginx/nginx.conf, with the
# settings of deploy/platform.env (the env_file docker-compose.yml gives every service).
#
# What differs from compose, and only this: development mode (QHWY_ENV, default development) on the broker's
# PLAINTEXT loopback listener, local addresses, and host names. nginx.conf and platform.env name compose's
# services (intake:8000, ...): a local copy of each is made with those names mapped to 127.0.0.1:<port>, and
# the config volume (/etc/qhwy) mapped to QHWY_CONFIG_DIR (default $QHWY_DATA_DIR/config, seeded with the
# packaged organisation file and demo staff directory when a file is missing).
#
# Settings (environment): QHWY_FRONT_PORT (nginx, default 8000), QHWY_PORT_<SERVICE> (default 8101..8107),
# QHWY_CONFIG_DIR, QHWY_PUBLIC_BASE_URL (default http://127.0.0.1:$QHWY_FRONT_PORT), and any QHWY_* setting
# (the caller's environment wins over platform.env). Ctrl-C / SIGTERM stops nginx, the services, and the broker
# and store if this script started them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PY="${QHWY_PYTHON:-$REPO_DIR/.venv/bin/python}"
SERVICES=(intake triage sla rating sync insight console)
FRONT_PORT="${QHWY_FRONT_PORT:-8000}"
PUBLIC_BASE_URL="${QHWY_PUBLIC_BASE_URL:-http://127.0.0.1:$FRONT_PORT}"
CONFIG_DIR="${QHWY_CONFIG_DIR:-$DATA_DIR/config}"
LOCAL_DIR="$RUN_DIR/compose-local-$FRONT_PORT"
start_time=$(date +%s.%N)

# --- nginx from Debian's packages, if missing (like deploy/chromium.sh) ---
NGINX="$(command -v nginx || true)"
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if [ -z "$NGINX" ]; then
  command -v apt-get >/dev/null 2>&1 || die "install nginx with your package manager (the local front needs it)"
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  log "installing Debian's nginx-light"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null
  NGINX=/usr/sbin/nginx
fi

port_of() {  # port_of SERVICE
  local var="QHWY_PORT_${1^^}" i
  for i in "${!SERVICES[@]}"; do [ "${SERVICES[$i]}" = "$1" ] && break; done
  echo "${!var:-$((8101 + i))}"
}

for name in "${SERVICES[@]}" front; do
  port=$([ "$name" = front ] && echo "$FRONT_PORT" || port_of "$name")
  port_open 127.0.0.1 "$port" && die "port $port ($name) is already taken (set QHWY_PORT_${name^^} or QHWY_FRONT_PORT)"
done

mkdir -p "$LOCAL_DIR" "$CONFIG_DIR/holidays" "$LOCAL_DIR/nginx"
# --- the config volume: the packaged defaults where the county has not saved its own file yet ---
[ -f "$CONFIG_DIR/org.yaml" ] || cp "$REPO_DIR/shared/data/kaihua.yaml" "$CONFIG_DIR/org.yaml"
[ -f "$CONFIG_DIR/staff.yaml" ] || cp "$REPO_DIR/shared/data/staff.yaml" "$CONFIG_DIR/staff.yaml"

# --- host names of the compose network -> local addresses ---
map_hosts() {  # stdin -> stdout: <service>:8000 -> 127.0.0.1:<port>, /etc/qhwy -> CONFIG_DIR
  local args=() name
  for name in "${SERVICES[@]}"; do
    args+=(-e "s#\\b${name}:8000\\b#127.0.0.1:$(port_of "$name")#g")
  done
  sed "${args[@]}" -e "s#/etc/qhwy\\b#${CONFIG_DIR}#g"
}

# platform.env -> the environment of every service (the caller's own QHWY_* settings win)
declare -A PLATFORM_ENV=()
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  key="${line%%=*}"; value="${line#*=}"
  [ -n "${!key+x}" ] && continue
  case "$key" in *_PUBLIC_BASE_URL) value="$PUBLIC_BASE_URL" ;; esac
  PLATFORM_ENV[$key]="$value"
done < <(map_hosts < "$DEPLOY_DIR/platform.env")
for key in "${!PLATFORM_ENV[@]}"; do export "$key=${PLATFORM_ENV[$key]}"; done
# the topology of this run (compose's `environment` holds the production equivalents)
export QHWY_ENV="${QHWY_ENV:-development}" QHWY_HTTP_HOST=127.0.0.1
export QHWY_KAFKA_BOOTSTRAP="${QHWY_KAFKA_BOOTSTRAP:-127.0.0.1:9092}" QHWY_MONGO_URL="${QHWY_MONGO_URL:-mongodb://127.0.0.1:27017}"
export QHWY_KAFKA_SECURITY_PROTOCOL="${QHWY_KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}"
# sync talks to the city platform and hotline simulator on its own port unless real endpoints are configured
export QHWY_CITY_SIMULATOR="${QHWY_CITY_SIMULATOR:-1}"

# --- nginx.conf, with the compose names mapped, its own files under LOCAL_DIR, listening on the loopback ---
map_hosts < "$DEPLOY_DIR/nginx/nginx.conf" | sed \
  -e '/^user /d' \
  -e "s#^error_log .*#error_log  $LOCAL_DIR/nginx-error.log notice;#" \
  -e "s#^pid .*#pid        $LOCAL_DIR/nginx.pid;#" \
  -e "s#access_log  /var/log/nginx/access.log#access_log  $LOCAL_DIR/nginx-access.log#" \
  -e '/^ *resolver/d' \
  -e "s#^\\( *\\)listen  *80;#\\1listen  127.0.0.1:$FRONT_PORT;#" \
  -e "s#^http {#http {\\n    client_body_temp_path $LOCAL_DIR/nginx/body;\\n    proxy_temp_path $LOCAL_DIR/nginx/proxy;\\n    fastcgi_temp_path $LOCAL_DIR/nginx/fastcgi;\\n    uwsgi_temp_path $LOCAL_DIR/nginx/uwsgi;\\n    scgi_temp_path $LOCAL_DIR/nginx/scgi;#" \
  > "$LOCAL_DIR/nginx.conf"
"$NGINX" -t -q -p "$LOCAL_DIR/nginx" -e "$LOCAL_DIR/nginx-error.log" -c "$LOCAL_DIR/nginx.conf" \
  || die "nginx refused $LOCAL_DIR/nginx.conf"

started_infra=0
"$DEPLOY_DIR/infra.sh" status >/dev/null 2>&1 || started_infra=1
"$DEPLOY_DIR/infra.sh" up

declare -A PIDS=()
nginx_pid=""
stopping=0
shutdown() {
  trap - INT TERM
  stopping=1
  if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
    log "stopping nginx"; kill -QUIT "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true
  fi
  local name rc=0
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  log "stopping the services"
  for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}" 2>/dev/null || rc=$?; done
  if [ "$started_infra" = 1 ]; then "$DEPLOY_DIR/infra.sh" down; fi
  log "stopped"
  return "$rc"
}
trap 'shutdown; exit $?' INT TERM

cd "$REPO_DIR"
for name in "${SERVICES[@]}"; do
  QHWY_HTTP_PORT="$(port_of "$name")" setsid "$PY" -m "services.$name" >"$LOCAL_DIR/$name.log" 2>&1 &
  PIDS[$name]=$!
done
setsid "$NGINX" -p "$LOCAL_DIR/nginx" -e "$LOCAL_DIR/nginx-error.log" -c "$LOCAL_DIR/nginx.conf" \
  -g 'daemon off;' &
nginx_pid=$!

# every service healthy (its consumers joined), then the front
deadline=$(( $(date +%s) + ${QHWY_COMPOSE_LOCAL_TIMEOUT:-300} ))
for name in "${SERVICES[@]}" front; do
  url="http://127.0.0.1:$([ "$name" = front ] && echo "$FRONT_PORT" || port_of "$name")/healthz"
  until "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; do
    if [ "$name" != front ] && ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      log "$name exited; see $LOCAL_DIR/$name.log"; shutdown || true; exit 1
    fi
    if [ "$(date +%s)" -gt "$deadline" ]; then log "$name not healthy in time"; shutdown || true; exit 1; fi
    sleep 0.5
  done
done
elapsed=$(awk -v a="$start_time" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
for name in "${SERVICES[@]}"; do log "$name: http://127.0.0.1:$(port_of "$name") (pid ${PIDS[$name]}, log $LOCAL_DIR/$name.log)"; done
log "all services up behind http://127.0.0.1:$FRONT_PORT (nginx, $LOCAL_DIR/nginx.conf) in ${elapsed} s (Ctrl-C stops everything)"

# Runs until a signal, or until a service or nginx exits by itself (then everything stops).
set +e
wait -n "${PIDS[@]}" "$nginx_pid"
rc=$?
set -e
[ "$stopping" = 1 ] && exit 0
log "a process exited by itself (status $rc): stopping everything"
shutdown || true
exit 1
