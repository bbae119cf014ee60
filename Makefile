# The two commands of the README are `make up` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo install up run down migrate infra status browser test test-unit test-integration test-e2e bench bench-intake bench-outbox bench-payments bench-reporting rebuild-reports clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

up: install            ## start RabbitMQ/PostgreSQL if needed, migrate, start the services
	$(PY) -m deploy.stack up

DEMO_ARGS ?= --people 100000

demo: install          ## make up, then a province's worth of synthetic events and its report
	$(PY) -m deploy.stack up
	$(PY) -m deploy.demo $(DEMO_ARGS)

run: install           ## the same in the foreground; Ctrl-C stops everything
	$(PY) -m deploy.stack run

down:                  ## stop the services started by `make up`
	@test -x $(PY) && $(PY) -m deploy.stack down || true

migrate: install
	$(PY) -m deploy.stack migrate

infra: install
	$(PY) -m deploy.stack infra

status:
	@$(PY) -m deploy.stack status

browser:               ## Debian's chromium for the dashboard test, when missing and installable
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  echo "[make] no chromium and none installable: the dashboard browser test will be skipped"

test: install infra browser   ## the whole suite: unit, integration, e2e
	$(PY) -m pytest tests

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install infra
	$(PY) -m pytest tests/integration

test-e2e: install infra browser
	$(PY) -m pytest tests/e2e

rebuild-reports: install   ## reporting's read models dropped and replayed from its event archive
	$(PY) -m deploy.rebuild_reports

bench: install infra   ## end-to-end throughput against a bare kombu consumer
	$(PY) -m bench.intake_e2e

bench-intake: install infra   ## 200,000 mixed intake events with 1,000,000 people registered, against a bare batched consumer
	$(PY) -m bench.intake_mixed --people 1000000 --events 200000

bench-outbox: install infra   ## the outbox's PostgreSQL cost: relay from a position against marking each row
	$(PY) -m bench.outbox_relay --events 100000 --rounds 3

bench-payments: install infra   ## a payment run over 1,000,000 beneficiaries against a bare INSERT ... SELECT
	$(PY) -m bench.payment_run --beneficiaries 1000000

bench-reporting: install infra   ## reporting lag at 1,000 events/s and query latency over 10M participants
	$(PY) -m bench.reporting --explain --profile --whatif

clean: down
	rm -rf $(VENV) var
