#!/usr/bin/env bash
# The whole test suite: the static checks first (deploy/lint.sh: ruff, mypy; a finding stops here), then pytest.
# The tests start the broker and store themselves (or reuse running ones); pytest's "no tests collected" (exit 5)
# counts as a failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PY="${QHWY_PYTHON:-$REPO_DIR/.venv/bin/python}"
cd "$REPO_DIR"
"$DEPLOY_DIR/lint.sh"
set +e
"$PY" -m pytest -q -ra "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi
exit "$rc"
