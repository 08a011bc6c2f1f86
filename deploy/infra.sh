#!/usr/bin/env bash
# The local broker and store together.
# Usage: deploy/infra.sh provision|up|down|status
#   up     starts whichever is not running yet (idempotent)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$DEPLOY_DIR"
case "${1:-}" in
  provision) "$here/kafka.sh" provision; "$here/ferretdb.sh" provision ;;
  up) "$here/ferretdb.sh" start; "$here/kafka.sh" start ;;
  down) "$here/kafka.sh" stop; "$here/ferretdb.sh" stop ;;
  status) rc=0; "$here/kafka.sh" status || rc=$?; "$here/ferretdb.sh" status || rc=$?; exit $rc ;;
  *) echo "usage: $0 provision|up|down|status" >&2; exit 2 ;;
esac
