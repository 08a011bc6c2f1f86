#!/usr/bin/env bash
# A local three-broker Apache Kafka cluster (KRaft, every node broker + controller), assembled from the same cached
# Maven artifacts as deploy/kafka.sh. Replication factor 3, min.insync.replicas 2 (deploy/kafka/cluster.properties.in).
#
# Usage: deploy/kafka-cluster.sh provision|start|stop|status|bootstrap
#        deploy/kafka-cluster.sh start-node N|stop-node N|kill-node N     (N = 1, 2 or 3; kill-node is kill -9)
#
# Ports: QHWY_KAFKA_CLUSTER_PORTS (default 29092,29093,29094) for the brokers, QHWY_KAFKA_CLUSTER_CONTROLLER_PORTS
# (default 29192,29193,29194) for the controllers, on QHWY_KAFKA_CLUSTER_HOST (127.0.0.1). Data under
# $QHWY_DATA_DIR/kafka-cluster/node-N, pid files and logs in $QHWY_DATA_DIR/run/kafka-cluster-N.{pid,log}.
# Heap per node: QHWY_KAFKA_CLUSTER_HEAP (default 384m). Point the services at it with
# QHWY_KAFKA_BOOTSTRAP=$(deploy/kafka-cluster.sh bootstrap). See docs/operations.md, "A three-broker Kafka cluster".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_HOME="$CACHE_DIR/kafka-$SCALA_VERSION-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
CLUSTER_HOST="${QHWY_KAFKA_CLUSTER_HOST:-127.0.0.1}"
IFS=, read -r -a BROKER_PORTS <<<"${QHWY_KAFKA_CLUSTER_PORTS:-29092,29093,29094}"
IFS=, read -r -a CONTROLLER_PORTS <<<"${QHWY_KAFKA_CLUSTER_CONTROLLER_PORTS:-29192,29193,29194}"
[ "${#BROKER_PORTS[@]}" = 3 ] && [ "${#CONTROLLER_PORTS[@]}" = 3 ] || die "three broker and three controller ports, comma separated"
HEAP="${QHWY_KAFKA_CLUSTER_HEAP:-384m}"
# Not the single broker's id: a node of one can never join the other by mistake.
CLUSTER_ID="${QHWY_KAFKA_CLUSTER_ID:-qhwyKRaftCluster00003A}"
CLUSTER_DATA="$DATA_DIR/kafka-cluster"
NODES=(1 2 3)
JAVA_ARGS=(-Xms128m "-Xmx$HEAP" -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$DEPLOY_DIR/kafka/log4j.properties")

pidfile() { echo "$RUN_DIR/kafka-cluster-$1.pid"; }
logfile() { echo "$RUN_DIR/kafka-cluster-$1.log"; }
broker_port() { echo "${BROKER_PORTS[$(($1 - 1))]}"; }

bootstrap() {
  local n out=""
  for n in "${NODES[@]}"; do out="$out${out:+,}$CLUSTER_HOST:$(broker_port "$n")"; done
  echo "$out"
}

voters() {
  local n out=""
  for n in "${NODES[@]}"; do out="$out${out:+,}$n@$CLUSTER_HOST:${CONTROLLER_PORTS[$((n - 1))]}"; done
  echo "$out"
}

check_node() { case "${1:-}" in 1|2|3) ;; *) die "node must be 1, 2 or 3 (got '${1:-}')" ;; esac; }

configure() {
  local n=$1 dir="$CLUSTER_DATA/node-$1"
  mkdir -p "$dir/logs" "$RUN_DIR"
  sed -e "s|@NODE_ID@|$n|g" -e "s|@QUORUM_VOTERS@|$(voters)|g" -e "s|@KAFKA_HOST@|$CLUSTER_HOST|g" \
      -e "s|@BROKER_PORT@|$(broker_port "$n")|g" -e "s|@CONTROLLER_PORT@|${CONTROLLER_PORTS[$((n - 1))]}|g" \
      -e "s|@KAFKA_LOG_DIR@|$dir/logs|g" "$DEPLOY_DIR/kafka/cluster.properties.in" > "$dir/server.properties"
  if [ ! -f "$dir/logs/meta.properties" ]; then
    log "formatting node $n's storage in $dir/logs"
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$dir/server.properties" \
      --ignore-formatted >>"$(logfile "$n")" 2>&1 || { tail -20 "$(logfile "$n")" >&2; die "node $n: storage format failed"; }
  fi
}

# Start one node without waiting for it (a node alone cannot finish starting: it needs a quorum).
launch() {
  local n=$1
  if pid_alive "$(pidfile "$n")"; then log "node $n already running (pid $(cat "$(pidfile "$n")"))"; return 0; fi
  if port_open "$CLUSTER_HOST" "$(broker_port "$n")"; then die "port $(broker_port "$n") of node $n is taken by another process"; fi
  configure "$n"
  : >"$(logfile "$n")"
  # setsid: a Ctrl-C in the terminal does not reach the brokers; `stop` ends them in order.
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$CLUSTER_DATA/node-$n/server.properties" \
    >>"$(logfile "$n")" 2>&1 </dev/null &
  echo $! >"$(pidfile "$n")"
}

wait_node() {
  local n=$1 i
  for i in $(seq 1 1800); do
    if grep -q "Kafka Server started" "$(logfile "$n")" 2>/dev/null && port_open "$CLUSTER_HOST" "$(broker_port "$n")"; then
      return 0
    fi
    if ! pid_alive "$(pidfile "$n")"; then tail -30 "$(logfile "$n")" >&2; die "node $n exited during start-up"; fi
    sleep 0.1
  done
  tail -30 "$(logfile "$n")" >&2; die "node $n not ready after 180 s"
}

start() {
  [ -f "$KAFKA_HOME/.complete" ] || "$DEPLOY_DIR/kafka.sh" provision
  local n
  for n in "${NODES[@]}"; do launch "$n"; done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  log "Kafka cluster ready: $(bootstrap) (data $CLUSTER_DATA)"
}

start_node() {
  check_node "$1"
  [ -f "$KAFKA_HOME/.complete" ] || "$DEPLOY_DIR/kafka.sh" provision
  launch "$1"
  wait_node "$1"
  log "node $1 ready on $CLUSTER_HOST:$(broker_port "$1")"
}

# A crash: kill -9, no shutdown of any kind; returns once the process is gone.
kill_node() {
  local n=$1 pid
  check_node "$n"
  pid_alive "$(pidfile "$n")" || die "node $n is not running"
  pid=$(cat "$(pidfile "$n")")
  log "kill -9 node $n (pid $pid)"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$(pidfile "$n")"
}

# All nodes at once: a node stopping alone shuts down in order with the quorum's help, the last one would wait for
# a quorum that is gone (30 s, then kill -9).
stop() {
  local n pids=() i
  for n in "${NODES[@]}"; do
    if pid_alive "$(pidfile "$n")"; then
      pids+=("$(cat "$(pidfile "$n")")"); log "stopping kafka cluster node $n (pid ${pids[-1]})"; kill -TERM "${pids[-1]}" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$n")"
  done
  for i in $(seq 1 300); do
    local alive=0 pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  log "kafka cluster nodes did not stop in 30 s, killing"
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

status() {
  local n rc=0
  for n in "${NODES[@]}"; do
    if pid_alive "$(pidfile "$n")"; then
      echo "kafka cluster node $n: running (pid $(cat "$(pidfile "$n")")) on $CLUSTER_HOST:$(broker_port "$n")"
    else echo "kafka cluster node $n: stopped"; rc=3; fi
  done
  echo "bootstrap: $(bootstrap)"
  return $rc
}

case "${1:-}" in
  provision) "$DEPLOY_DIR/kafka.sh" provision ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  start-node) start_node "${2:-}" ;;
  stop-node) check_node "${2:-}"; stop_pidfile "kafka cluster node $2" "$(pidfile "$2")" ;;
  kill-node) kill_node "${2:-}" ;;
  *) echo "usage: $0 provision|start|stop|status|bootstrap|start-node N|stop-node N|kill-node N" >&2; exit 2 ;;
esac
