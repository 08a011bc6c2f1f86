#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single node) assembled from Maven Central.
# Usage: deploy/kafka.sh provision|start|stop|status|wait|acls
#
# Secured mode (opt-in, QHWY_KAFKA_SECURED=1): besides the loopback PLAINTEXT listener of development runs, a
# SASL_PLAINTEXT listener with SCRAM-SHA-512 on QHWY_KAFKA_SASL_BOOTSTRAP (default host:port+2, e.g. 127.0.0.1:9094)
# and ACLs (StandardAuthorizer); at start, deploy/kafka-acls.py creates the principals' credentials, their ACLs and
# the topics (`acls` does it again on a running broker). Passwords: QHWY_KAFKA_PASSWORD_<PRINCIPAL>, else generated
# into $QHWY_DATA_DIR/kafka/credentials.env. See docs/operations.md, "Kafka authentication and ACLs".
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_HOME="$CACHE_DIR/kafka-$SCALA_VERSION-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$DATA_DIR/kafka"
PIDFILE="$RUN_DIR/kafka.pid"
LOGFILE="$RUN_DIR/kafka.log"
SECURED="${QHWY_KAFKA_SECURED:-0}"
KAFKA_SASL_BOOTSTRAP="${QHWY_KAFKA_SASL_BOOTSTRAP:-$KAFKA_HOST:$((KAFKA_PORT + 2))}"
KAFKA_SASL_HOST="${KAFKA_SASL_BOOTSTRAP%%:*}"
KAFKA_SASL_PORT="${KAFKA_SASL_BOOTSTRAP##*:}"
CREDENTIALS_FILE="$KAFKA_DATA/credentials.env"

provision() {
  if [ -f "$KAFKA_HOME/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found: Maven is needed to assemble Kafka"
  command -v java >/dev/null || die "java not found: Kafka needs a JRE (17 here)"
  log "assembling Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME"
  rm -rf "$KAFKA_HOME" && mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$DEPLOY_DIR/kafka/pom.xml" dependency:copy-dependencies \
    -Dscala.version="$SCALA_VERSION" -Dkafka.version="$KAFKA_VERSION" \
    -Dslf4j.reload4j.version="$SLF4J_RELOAD4J_VERSION" -Dreload4j.version="$RELOAD4J_VERSION" \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
  touch "$KAFKA_HOME/.complete"
}

JAVA_ARGS=(-Xms512m -Xmx512m -cp "$KAFKA_LIBS/*" -Dlog4j.configuration="file:$DEPLOY_DIR/kafka/log4j.properties")

configure() {
  mkdir -p "$KAFKA_DATA/logs" "$RUN_DIR"
  sed -e "s|@KAFKA_HOST@|$KAFKA_HOST|g" -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" -e "s|@KAFKA_LOG_DIR@|$KAFKA_DATA/logs|g" \
      "$DEPLOY_DIR/kafka/server.properties.in" > "$KAFKA_DATA/server.properties"
  if [ "$SECURED" = 1 ]; then
    case "$KAFKA_HOST" in 127.*|localhost) ;; *)
      die "secured mode keeps PLAINTEXT (a super user) on loopback only: QHWY_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP" ;;
    esac
    sed -e "s|@KAFKA_HOST@|$KAFKA_HOST|g" -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_SASL_HOST@|$KAFKA_SASL_HOST|g" -e "s|@KAFKA_SASL_PORT@|$KAFKA_SASL_PORT|g" \
        "$DEPLOY_DIR/kafka/secured.properties.in" >> "$KAFKA_DATA/server.properties"
  fi
  if [ ! -f "$KAFKA_DATA/logs/meta.properties" ]; then
    log "formatting Kafka storage in $KAFKA_DATA/logs"
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_DATA/server.properties" \
      --ignore-formatted >>"$LOGFILE" 2>&1 || { tail -20 "$LOGFILE" >&2; die "kafka storage format failed"; }
  fi
}

start() {
  provision
  if pid_alive "$PIDFILE"; then log "Kafka already running (pid $(cat "$PIDFILE"))"; return 0; fi
  if port_open "$KAFKA_HOST" "$KAFKA_PORT"; then log "Kafka port already answers: reusing that server"; return 0; fi
  configure
  log "starting Kafka on $KAFKA_BOOTSTRAP (data $KAFKA_DATA, log $LOGFILE)"
  : >"$LOGFILE"
  # setsid: a Ctrl-C in the terminal reaches the run script, which stops the broker in order.
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$KAFKA_DATA/server.properties" >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_ready
  if [ "$SECURED" = 1 ]; then acls; fi
}

# The principals' credentials, ACLs and the topics, from deploy/kafka-acls.py's table, through the loopback
# PLAINTEXT listener (a super user in secured mode).
acls() {
  local py="${QHWY_PYTHON:-$REPO_DIR/.venv/bin/python}"
  log "credentials and ACLs (deploy/kafka-acls.py); SASL clients: $KAFKA_SASL_BOOTSTRAP"
  QHWY_KAFKA_SECURITY_PROTOCOL=PLAINTEXT "$py" "$DEPLOY_DIR/kafka-acls.py" --bootstrap "$KAFKA_BOOTSTRAP" \
    --create-topics --credentials-file "$CREDENTIALS_FILE" || die "kafka-acls.py failed"
}

wait_ready() {
  local i
  for i in $(seq 1 1200); do
    if grep -q "Kafka Server started" "$LOGFILE" 2>/dev/null && port_open "$KAFKA_HOST" "$KAFKA_PORT"; then
      log "Kafka is ready on $KAFKA_BOOTSTRAP"; return 0
    fi
    if ! pid_alive "$PIDFILE"; then tail -30 "$LOGFILE" >&2; die "Kafka exited during start-up"; fi
    sleep 0.1
  done
  tail -30 "$LOGFILE" >&2; die "Kafka not ready after 120 s"
}

status() {
  if pid_alive "$PIDFILE"; then
    echo "kafka: running (pid $(cat "$PIDFILE")) on $KAFKA_BOOTSTRAP$([ "$SECURED" = 1 ] && echo ", SASL/SCRAM on $KAFKA_SASL_BOOTSTRAP")"
  elif port_open "$KAFKA_HOST" "$KAFKA_PORT"; then echo "kafka: $KAFKA_BOOTSTRAP answers (not started by this checkout)"
  else echo "kafka: stopped"; return 3; fi
}

case "${1:-}" in
  provision) provision ;;
  start) start ;;
  stop) stop_pidfile kafka "$PIDFILE" ;;
  status) status ;;
  wait) wait_ready ;;
  acls) acls ;;
  *) echo "usage: $0 provision|start|stop|status|wait|acls" >&2; exit 2 ;;
esac
