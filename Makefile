# Local workflow of the wallet system; every target works from a fresh clone.
#   make run    start PostgreSQL, Kafka and all services here (gateway on 127.0.0.1:8000)
#   make test   lint, then the whole test suite (starts its own PostgreSQL and Kafka)
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
# Evaluated when a recipe runs, i.e. after `install` may have put uv on the machine.
UV = $(shell command -v uv 2>/dev/null || echo python3.11 -m uv)
# scripts/bootstrap.sh has just synced .venv from uv.lock: no second sync per command.
RUN = $(UV) run --no-sync
MYPY_TARGETS = shared/src services/gateway/src services/wallet-shard/src \
	services/transfer-coordinator/src devtools/src tests

.PHONY: help install run test lint bench chaos clean

help:
	@echo "make install   install what is missing (PostgreSQL, Java, Maven, uv, .venv, Kafka jars)"
	@echo "make run       run the whole system locally until Ctrl-C"
	@echo "make test      lint, then run the tests"
	@echo "make lint      ruff (lint, format check), mypy, import contracts"
	@echo "make bench     measure the system against its PostgreSQL alone (.local/bench/latest.json)"
	@echo "make chaos     10,000 transfers while every part is killed, books checked (SEED=n replays)"
	@echo "make clean     remove .local (Kafka jars, local data and logs)"

install:
	@bash scripts/bootstrap.sh

run: install
	$(RUN) wallet run

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy $(MYPY_TARGETS)
	$(RUN) lint-imports --no-cache

test: lint
	$(RUN) pytest -q --durations=20

bench: install
	$(RUN) wallet bench --start

# `make chaos SEED=123` replays the run that printed that seed.
chaos: install
	$(RUN) wallet chaos $(if $(SEED),--seed $(SEED))

clean:
	rm -rf .local
