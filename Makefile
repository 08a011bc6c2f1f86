# 企呼我应 (qhwy). Two commands do everything on a fresh machine:
#   make run    set up, start Kafka + FerretDB, run the six services and the staff console on http://127.0.0.1:8000
#               in one process (Ctrl-C stops all)
#   make test   set up, then the static checks (make lint) and the whole test suite against the real broker and store
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup venv provision fonts chromium run run-compose-local backup restore test test-unit lint infra-up infra-down \
	infra-status token clean-data \
	bench-intake bench-import bench-triage bench-triage-loso fit-links bench-sla bench-sync bench-insight bench-store docs-asyncapi

setup: venv provision fonts

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

provision:
	deploy/infra.sh provision

# The CJK font of insight's charts and PDF reports (Debian's fonts-wqy-microhei, if missing).
fonts:
	deploy/fonts.sh

run: setup
	deploy/run.sh

# The compose topology as local processes: each service (`python -m services.<name>`) on its own port behind
# Debian's nginx with deploy/nginx/nginx.conf and compose's settings (deploy/platform.env); development mode.
run-compose-local: setup
	deploy/compose-local.sh

# Every qhwy_* database (QHWY_DB_PREFIX) to JSON lines in BACKUP_DIR (default backups/<UTC time>); docs/operations.md.
backup: venv
	$(PY) -m shared.backup backup $(if $(BACKUP_DIR),--out $(BACKUP_DIR))

# make restore BACKUP_DIR=backups/... [RESTORE_PREFIX=qhwy] [RESTORE_ARGS=--drop]: into empty databases only.
restore: venv
	$(PY) -m shared.backup restore $(or $(BACKUP_DIR),$(error set BACKUP_DIR)) $(if $(RESTORE_PREFIX),--prefix $(RESTORE_PREFIX)) $(RESTORE_ARGS)

test: setup chromium
	deploy/test.sh $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit -q

# ruff on the whole tree, then mypy (strict on shared/ and services/*/domain.py): pyproject.toml configures both.
lint: venv
	deploy/lint.sh

infra-up: provision
	deploy/infra.sh up

infra-down:
	deploy/infra.sh down

infra-status:
	deploy/infra.sh status

# make token ROLE=unit_handler UNIT=fagai SUB=wang.wu
token: venv
	@$(VENV)/bin/qhwy-token --role $(ROLE) --sub $(or $(SUB),$(USER)) $(if $(UNIT),--unit $(UNIT))

clean-data: infra-down
	rm -rf var

# insight: rebuild of all projections (1,000,000 events in memory, a smaller count through Kafka + the store)
# and the report's generation time. BENCH_INSIGHT_ARGS="--events 200000" for a quicker run.
bench-insight: venv fonts
	$(PY) bench/insight_bench.py $(BENCH_INSIGHT_ARGS)

# Headless Chromium + chromedriver from Debian's packages for the browser tests (tests/e2e), if missing.
chromium:
	deploy/chromium.sh

# intake: submissions per second accepted over HTTP and over the topic, p50/p99 to case.registered
# (real Kafka and store, its own namespace). BENCH_INTAKE_ARGS="--count 500" for a shorter run.
bench-intake: setup
	$(PY) bench/intake_bench.py $(BENCH_INTAKE_ARGS)

# sla: one timer sweep over 100,000 open cases, firing lag p50/p99/max, the service's memory
# (real Kafka and store, its own database prefix and topics, removed afterwards). BENCH_SLA_ARGS="--cases 20000".
bench-sla: setup
	$(PY) bench/sla.py $(BENCH_SLA_ARGS)

# sync: deliveries per second to the city simulator, and the backlog drain after the city was down for 10 minutes
# at 50 cases a minute (500 escalations pre-loaded with the backoff state such an outage leaves; real store,
# its own database, removed afterwards). BENCH_SYNC_ARGS="--cases 100" for a quicker run.
bench-sync: setup
	$(PY) bench/sync.py $(BENCH_SYNC_ARGS)

# The AsyncAPI document of the public topics, generated from the code (services/sync/asyncapi.py).
docs-asyncapi: venv
	$(VENV)/bin/faststream docs gen services.sync.asyncapi:app --yaml --out docs/asyncapi.yaml

# triage: per-field accuracy and duplicate precision/recall/F1 side by side on the corpus's dev split and the blind
# sets never read (K, R, S, T, W, Z in bench/blind/; aggregates only), and cases per second through the triage service on
# the real broker (its own namespace). BENCH_TRIAGE_ARGS="--cases 100" or "--no-blind".
bench-triage: setup
	$(PY) bench/triage.py $(BENCH_TRIAGE_ARGS)

# Leave each folded set out in turn, train without it and score it (~4 min): how a weight of the decision does on an
# author the models never saw. BENCH_TRIAGE_LOSO_ARGS="--catalogue-share 0.4 --sets set_e,set_f".
bench-triage-loso: setup
	$(PY) bench/triage_loso.py $(BENCH_TRIAGE_LOSO_ARGS)

# Refit the follow-up / shared-problem link model (services/triage/data/link_model.yaml) on the scored sets named
# in bench/fit_links.py, printing its leave-one-set-out F1 beside the rules alone (~3 min).
fit-links: setup
	$(PY) bench/fit_links.py $(FIT_LINKS_ARGS)

# The platform under load (issue 10): every service as its own process, a load generator at fixed offered rates,
# throughput and p50/p95/p99 from submission to case.triaged / case.assigned, against a plain aiokafka relay over
# the same hops (its own namespace, removed afterwards; ~5 min). BENCH_ARGS="--rates 5,20,max --duration 10".
.PHONY: bench
bench: setup
	$(PY) bench/load.py $(BENCH_ARGS)

# A 10,000-row batch import (files of 2,000 to intake's batch route), from the first upload to the last case.triaged,
# every service its own process; beside it, in the same run, as many submissions sent to the ingress topic (~8 min).
# BENCH_IMPORT_ARGS="--rows 2000" or "--single".
bench-import: setup
	$(PY) bench/import_bench.py $(BENCH_IMPORT_ARGS)

# console: response times of the staff pages' own API (page, sign-in, search, timeline) with N cases in its read
# store (real broker and store, its own database and topics, removed afterwards). BENCH_CONSOLE_ARGS="--cases 20000".
bench-console: setup
	$(PY) bench/console.py $(BENCH_CONSOLE_ARGS)

# FerretDB 1.24 on SQLite (the running one) against FerretDB 1.24 on Debian's PostgreSQL (deploy/postgres.sh,
# a second FerretDB on 127.0.0.1:27018): reads by _id / $in / an indexed field in 20,000 documents, and the
# platform at 50/s and a burst of 300 with the consumers' batch unit of work off and on (~15 min).
# BENCH_STORE_ARGS="--skip-platform" for the reads alone; docs/operations.md "FerretDB: SQLite or PostgreSQL".
bench-store: setup
	$(PY) bench/store_backends.py $(BENCH_STORE_ARGS)

# A local three-broker Kafka cluster (KRaft, replication 3, min.insync.replicas 2; data under QHWY_DATA_DIR,
# ports QHWY_KAFKA_CLUSTER_PORTS, default 29092-29094): docs/operations.md, "A three-broker Kafka cluster".
# Point the services at it with QHWY_KAFKA_BOOTSTRAP=$$(deploy/kafka-cluster.sh bootstrap).
.PHONY: cluster-up cluster-down cluster-status test-cluster bench-scale
cluster-up: provision
	deploy/kafka-cluster.sh start

cluster-down:
	deploy/kafka-cluster.sh stop

cluster-status:
	deploy/kafka-cluster.sh status

# The cluster tests alone (also part of `make test`): a broker killed under load on a private three-broker cluster,
# and two counties side by side on one set of brokers.
test-cluster: setup
	$(PY) -m pytest -q -ra tests/integration/test_cluster.py tests/integration/test_counties.py $(PYTEST_ARGS)

# Every service at 1, 2 and 3 instances on a private three-broker cluster: cases/s and p50/p99 per count
# (~10 min on 2 cores). BENCH_SCALE_ARGS="--instances 1,2 --count 150" for a shorter run.
bench-scale: setup
	$(PY) bench/scale.py $(BENCH_SCALE_ARGS)
