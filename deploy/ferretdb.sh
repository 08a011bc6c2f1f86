#!/usr/bin/env bash
# Local FerretDB 1.x (MongoDB wire protocol over SQLite), built from the Go module proxy.
# Usage: deploy/ferretdb.sh provision|start|stop|status|wait
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# "-idx-in": built with the two fixes below (a different name, so a binary cached without them is rebuilt once).
FERRETDB_BIN="$CACHE_DIR/ferretdb-$FERRETDB_VERSION-idx-in/ferretdb"
FERRETDB_DATA="$DATA_DIR/ferretdb"
PIDFILE="$RUN_DIR/ferretdb.pid"
LOGFILE="$RUN_DIR/ferretdb.log"
MODULE=github.com/FerretDB/FerretDB

provision() {
  if [ -x "$FERRETDB_BIN" ]; then return 0; fi
  command -v go >/dev/null || die "go not found: Go is needed to build FerretDB"
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (takes a few minutes once)"
  local src; src=$(go mod download -json "$MODULE@$FERRETDB_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local work; work=$(mktemp -d)
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  # A module download lacks the version files that FerretDB's build generates from git; without
  # version.txt the binary panics at start (upstream issue #2982). Write them from the pinned tag.
  echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
  for f in commit branch package; do [ -f "$work/build/version/$f.txt" ] || echo unknown >"$work/build/version/$f.txt"; done
  # The SQLite backend looks documents up by _id with the expression _ferretdb_sjson->'$._id', but creates
  # the unique _id index on _ferretdb_sjson->"_id": SQLite cannot use the index, so every update, delete and
  # find by _id scans the whole table (~100 ms per update at 5,000 documents; 5 ms with the index; see
  # docs/operations.md "Load benchmark"). Use the index's own expression. Same results, same files on disk.
  sed -i "s|IDColumn = DefaultColumn + \"->'\$._id'\"|IDColumn = DefaultColumn + \`->\"_id\"\`|" \
    "$work/internal/backends/sqlite/metadata/metadata.go"
  grep -q 'IDColumn = DefaultColumn + `->"_id"`' "$work/internal/backends/sqlite/metadata/metadata.go" \
    || die "FerretDB $FERRETDB_VERSION: the _id index fix no longer applies"
  # The SQLite backend hands only a filter of one _id to SQL; {"_id": {"$in": [...]}} reads and decodes the whole
  # collection in Go (777 ms for 100 of 20,000 documents). Hand it to SQL too, as `_id IN (...)` on the same index
  # (strings and ObjectIDs, as for one _id; FerretDB still applies the whole filter to what SQL returns), so a
  # consumer batch reads its documents in one query (shared/store.py ReadBatcher).
  python3 - "$work/internal/backends/sqlite/collection.go" <<'PATCH' || die "FerretDB $FERRETDB_VERSION: the \$in fix no longer applies"
import sys
path = sys.argv[1]
text = open(path).read()
old = """			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause
	q += prepareOrderByClause(params.Sort)
"""
new = """			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			whereClause, args = qhwyIDInClause(v.(*types.Document))
		}
	}

	q += whereClause
	q += prepareOrderByClause(params.Sort)
"""
helper = """

// qhwyIDInClause: `WHERE _id IN (...)` for a filter {"_id": {"$in": [strings or ObjectIDs]}}, else nothing.
func qhwyIDInClause(cond *types.Document) (string, []any) {
	if cond.Len() != 1 {
		return "", nil
	}
	in, err := cond.Get("$in")
	if err != nil {
		return "", nil
	}
	arr, ok := in.(*types.Array)
	if !ok || arr.Len() == 0 || arr.Len() > 1000 {
		return "", nil
	}
	marks := make([]string, 0, arr.Len())
	args := make([]any, 0, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		el := must.NotFail(arr.Get(i))
		switch el.(type) {
		case string, types.ObjectID:
			marks = append(marks, "?")
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(el))))
		default:
			return "", nil
		}
	}
	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(marks, ", ")), args
}
"""
assert text.count(old) == 1, "query pushdown not found"
open(path, "w").write(text.replace(old, new) + helper)
PATCH
  mkdir -p "$(dirname "$FERRETDB_BIN")"
  (cd "$work" && go build -buildvcs=false -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb)
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$work"
}

start() {
  provision
  if pid_alive "$PIDFILE"; then log "FerretDB already running (pid $(cat "$PIDFILE"))"; return 0; fi
  if port_open "$MONGO_HOST" "$MONGO_PORT"; then log "FerretDB port already answers: reusing that server"; return 0; fi
  mkdir -p "$FERRETDB_DATA/sqlite" "$RUN_DIR"
  log "starting FerretDB on $MONGO_HOST:$MONGO_PORT (data $FERRETDB_DATA, log $LOGFILE)"
  : >"$LOGFILE"
  setsid "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$FERRETDB_DATA/sqlite/" \
    --listen-addr="$MONGO_HOST:$MONGO_PORT" --state-dir="$FERRETDB_DATA" --telemetry=disable \
    --debug-addr="${QHWY_FERRETDB_DEBUG_ADDR:-127.0.0.1:0}" --log-level=warn \
    >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_ready
}

wait_ready() {
  local i
  for i in $(seq 1 600); do
    if port_open "$MONGO_HOST" "$MONGO_PORT"; then log "FerretDB is ready on $MONGO_HOST:$MONGO_PORT"; return 0; fi
    if ! pid_alive "$PIDFILE"; then tail -30 "$LOGFILE" >&2; die "FerretDB exited during start-up"; fi
    sleep 0.1
  done
  tail -30 "$LOGFILE" >&2; die "FerretDB not ready after 60 s"
}

status() {
  if pid_alive "$PIDFILE"; then echo "ferretdb: running (pid $(cat "$PIDFILE")) on $MONGO_HOST:$MONGO_PORT"
  elif port_open "$MONGO_HOST" "$MONGO_PORT"; then echo "ferretdb: $MONGO_HOST:$MONGO_PORT answers (not started by this checkout)"
  else echo "ferretdb: stopped"; return 3; fi
}

case "${1:-}" in
  provision) provision ;;
  start) start ;;
  stop) stop_pidfile ferretdb "$PIDFILE" ;;
  status) status ;;
  wait) wait_ready ;;
  *) echo "usage: $0 provision|start|stop|status|wait" >&2; exit 2 ;;
esac
