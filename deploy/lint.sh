#!/usr/bin/env bash
# Static checks (`make lint`; also the first step of `make test`, deploy/test.sh): ruff on the whole tree
# (pycodestyle and pyflakes errors, lines up to 120 columns), then mypy, strict on shared/ and every
# services/*/domain.py. Both are configured in pyproject.toml ([tool.ruff], [tool.mypy]).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PY="${QHWY_PYTHON:-$REPO_DIR/.venv/bin/python}"
cd "$REPO_DIR"
"$PY" -m ruff check --quiet . || die "ruff: the problems above fail the build (wrap long lines by hand; no formatter)"
log "ruff: clean"
"$PY" -m mypy || die "mypy: the type errors above fail the build"
