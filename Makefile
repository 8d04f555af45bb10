# The front door for people and for CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := deploy/local/stack
VENV := .venv
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GO_MODULES := gen/go serving dbsvc-go logsvc-go bench/logbench report/wire/gowire
# The Python lock files: X.txt is resolved from X.in by uv, every package pinned with its
# hashes, and installed with pip's --require-hashes.
LOCKS := api-python/requirements requirements-dev bench/requirements report/requirements
UV_COMPILE := $(VENV)/bin/uv pip compile -q --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock"

.PHONY: help up down status restart logs test unit lint lock go-test py-test smoke quick-drills generate tools bench drills report \
	compose-up compose-down compose-status compose-test compose-drills compose-plugins postman postman-generate \
	k8s-up k8s-test k8s-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

up: ## install what is missing, start the whole store and wait until it is healthy
	@$(STACK) up

down: ## stop every process of the store (data stays in .state/)
	@$(STACK) down

status: ## show what runs where
	@$(STACK) status

restart: ## rebuild the services and restart them (after changing their code)
	@$(STACK) install
	@$(STACK) run $(VENV)/bin/supervisorctl -c deploy/local/supervisord.conf restart logsvc dbsvc dbsvc-2 api-1 api-2
	@$(STACK) up

logs: ## follow the Kafka topic log-channel with Kafka's console consumer
	@$(STACK) run bash -c 'exec java -Xmx128m -Dlog4j.configuration=file:deploy/local/kafka/tools-log4j.properties \
	  -cp ".state/kafka/libs/*" org.apache.kafka.tools.consumer.ConsoleConsumer \
	  --bootstrap-server 127.0.0.1:$$KAFKA_EXTERNAL_PORT --topic $$KAFKA_TOPIC --from-beginning \
	  --property print.key=true --property key.separator=" | "'

# $(call stage,TARGET): runs `make TARGET` and says how long it took.
stage = @t0=$$(date +%s); $(MAKE) --no-print-directory $(1) && echo "==> $(1): $$(( $$(date +%s) - t0 )) s"

# The stages in this order: the unit tests need no store and fail fastest; the suites
# against the store leave it as they found it; the drills stop, kill and restart its
# parts, so they come after them, where something they leave half-recovered can fail
# only them. Compose last: it runs the same suites on a store of its own.
test: ## every linter and test: unit, then (store started if needed) go test, pytest, smoke, quick drills, then compose's tests and drills
	$(call stage,unit)
	$(call stage,up)
	$(call stage,tools)
	$(call stage,lint)
	$(call stage,go-test)
	$(call stage,py-test)
	$(call stage,smoke)
	$(call stage,postman)
	$(call stage,quick-drills)
	$(call stage,compose-test)
	$(call stage,compose-drills)
	@echo "==> all tests passed"

# What `make unit` needs of .venv; the first `make up` (stack install) makes it.
$(VENV)/bin/python:
	@$(STACK) install

unit: $(VENV)/bin/python ## fast unit tests, no store needed: the API's pure parts (pytest), the Go packages' (go test -short)
	@echo "==> unit tests"
	@$(VENV)/bin/pytest -q api-python/tests/unit
	@for m in serving dbsvc-go logsvc-go; do (cd $$m && echo "go test -short $$m" && go test -short -count=1 ./...) || exit 1; done

# OpenAPI Generator, the course's SDK generator, for tests/test_sdk.py: one jar from
# Maven Central (Java 17 runs it), fetched by Maven like the Kafka jars.
OPENAPI_GENERATOR_VERSION := 7.25.0
OPENAPI_GENERATOR := .state/tools/openapi-generator-cli-$(OPENAPI_GENERATOR_VERSION).jar
tools: $(VENV)/bin/python .state/bin/protoc-gen-go .state/bin/protoc-gen-go-grpc compose-plugins $(OPENAPI_GENERATOR) .state/bin/helm

$(OPENAPI_GENERATOR):
	mvn -q -B dependency:copy -Dartifact=org.openapitools:openapi-generator-cli:$(OPENAPI_GENERATOR_VERSION) \
	  -DoutputDirectory=$(CURDIR)/.state/tools
	ln -sf $(notdir $@) .state/tools/openapi-generator-cli.jar

.state/bin/protoc-gen-go:
	GOBIN=$(CURDIR)/.state/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

.state/bin/protoc-gen-go-grpc:
	GOBIN=$(CURDIR)/.state/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# docker compose and buildx as Docker CLI plugins, built from the Go module proxy when
# missing (deploy/compose/stack says which versions): tests/test_compose.py checks
# docker-compose.yml with compose's own `config`, which needs no engine.
compose-plugins:
	@deploy/compose/stack plugins

# helm for tests/test_k8s.py, which lints, renders and validates deploy/k8s offline.
HELM_VERSION := v3.22.0
.state/bin/helm:
	GOBIN=$(CURDIR)/.state/bin go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

generate: tools ## regenerate the Go and Python code from proto/
	$(VENV)/bin/buf lint
	$(VENV)/bin/buf generate

lock: ## resolve each requirements .in file into its lock file (pinned, with hashes), keeping the pins that still fit
	@for lock in $(LOCKS); do echo "uv pip compile $$lock.in"; $(UV_COMPILE) $$lock.in -o $$lock.txt || exit 1; done

lint: tools ## ruff, gofmt, go vet, buf lint, promtool (Prometheus's configuration, rules and their tests), and the Helm chart of deploy/k8s
	@echo "==> lint"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# Each lock file is what uv resolves from its .in now, keeping the pins it has.
	@check=$$(mktemp); trap 'rm -f $$check' EXIT; for lock in $(LOCKS); do \
	  cp $$lock.txt $$check && $(UV_COMPILE) $$lock.in -o $$check && cmp -s $$lock.txt $$check \
	    || { echo "$$lock.txt is not what $$lock.in resolves to: run make lock"; exit 1; }; \
	done
	@unformatted=$$(gofmt -l $(GO_MODULES)); \
	  if [[ -n "$$unformatted" ]]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	@for m in $(GO_MODULES); do (cd $$m && echo "go vet $$m" && go vet ./...) || exit 1; done
	$(VENV)/bin/buf lint
	@command -v promtool >/dev/null || { echo "promtool is missing: make up installs Debian's prometheus package"; exit 1; }
	promtool check config deploy/prometheus/prometheus.compose.yml
	promtool check rules deploy/prometheus/rules.yml
	promtool test rules deploy/prometheus/rules_test.yml
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/test_k8s.py tests/test_capacity.py

go-test: ## go test for the Go services against the running PostgreSQL and Kafka (the unit tests again with them) and for serving/, their shared module
	@echo "==> go test"
	@$(STACK) run bash -c 'cd serving && go test -count=1 ./...'
	@$(STACK) run bash -c 'cd dbsvc-go && go test -count=1 ./...'
	@$(STACK) run bash -c 'cd logsvc-go && go test -count=1 ./...'

py-test: ## pytest: the API and the whole stack, end to end through NGINX (no drills)
	@echo "==> pytest"
	@$(STACK) run $(VENV)/bin/pytest --ignore=api-python/tests/unit --ignore=tests/drills --ignore=tests/compose --ignore=tests/k8s

quick-drills: ## the quick failure drills (tests/drills without the long ones), against the running store
	@echo "==> quick drills"
	@$(STACK) run $(VENV)/bin/pytest -p no:cacheprovider tests/drills

smoke: ## scripts/smoke.sh: every operation with curl
	@echo "==> smoke test"
	@$(STACK) run scripts/smoke.sh

# Newman (Postman's command line) from npm, pinned by postman/package-lock.json.
NEWMAN := postman/node_modules/.bin/newman
$(NEWMAN): postman/package-lock.json
	cd postman && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

postman: $(NEWMAN) ## Newman runs the Postman collections of postman/ against the running store
	@echo "==> postman (newman)"
	@$(STACK) run sh -c 'for c in customer-path store; do \
	  $(NEWMAN) run postman/$$c.postman_collection.json -e postman/local.postman_environment.json \
	    --env-var baseUrl=http://127.0.0.1:$$NGINX_PORT --color off || exit 1; done'

# After a change to api-python/openapi.yaml: the collection generated from it.
postman-generate: $(NEWMAN) ## regenerate postman/store.postman_collection.json from the OpenAPI file
	cd postman && npm run --silent generate

# bench's tools: Debian's wrk, ghz from the Go module proxy, bench/requirements.txt in .venv.
GHZ_VERSION := v0.121.0
BENCH_STAMP := .state/stamps/bench-$(shell sha256sum bench/requirements.txt | cut -c1-16)

$(BENCH_STAMP): bench/requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r bench/requirements.txt
	@mkdir -p .state/stamps && touch $@

.state/bin/ghz:
	GOBIN=$(CURDIR)/.state/bin go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

# Each of these starts the store only if its NGINX does not answer; the port is .env's
# (NGINX_PORT), read through the stack script, so another copy of the store on this
# machine's default port does not count.
bench: ## load-test the running store and its ceilings into report/bench/ (BENCH_DURATION, BENCH_LEVELS)
	@$(STACK) run sh -c 'curl -fsS -o /dev/null http://127.0.0.1:$$NGINX_PORT/healthz' 2>/dev/null || $(STACK) up
	@$(MAKE) --no-print-directory $(BENCH_STAMP) .state/bin/ghz
	@command -v wrk >/dev/null || { echo "==> installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	@echo "==> bench (about 5 minutes)"
	@$(STACK) run $(VENV)/bin/python bench/run.py

drills: ## every failure drill, the long ones too (contention, long outages), against the running store
	@$(STACK) run sh -c 'curl -fsS -o /dev/null http://127.0.0.1:$$NGINX_PORT/healthz' 2>/dev/null || $(STACK) up
	@echo "==> drills (long)"
	@$(STACK) run env DRILLS_LONG=1 $(VENV)/bin/pytest -p no:cacheprovider -m "" -s tests/drills

report: compose-plugins ## build report/report.pdf from report/report.md, with fresh output of the running store
	@$(STACK) run sh -c 'curl -fsS -o /dev/null http://127.0.0.1:$$NGINX_PORT/readyz' 2>/dev/null || $(STACK) up
	@echo "==> report (about 2 minutes)"
	@report/build.sh

# Kubernetes on this machine (deploy/k8s/cluster): a one-node cluster built from the Go
# module proxy into ~/.cache/merch-store/k8s (about 10 minutes the first time), the
# chart installed with values-local-cluster.yaml, the API on 127.0.0.1:30080.
k8s-up: ## the one-node cluster, the store's images loaded, helm install --wait of deploy/k8s
	@deploy/k8s/cluster/store up

k8s-test: $(VENV)/bin/python ## k8s-up, the end-to-end suites and smoke.sh through the chart's entry, then uninstall and stop the cluster
	@deploy/k8s/cluster/store test

k8s-down: ## helm uninstall, then stop the cluster
	@deploy/k8s/cluster/store down

# Docker Compose (README, "Running it with Docker"). IMAGE_SOURCE=debian, from the
# environment or .env, builds every image here from Debian's packages first.
compose-up: ## docker compose up -d --wait (a Docker engine started if none answers), then what runs where
	@deploy/compose/stack up

compose-down: ## docker compose down (ARGS=-v also removes the data volumes)
	@deploy/compose/stack down $(ARGS)

compose-status: ## docker compose ps and the published addresses
	@deploy/compose/stack status

compose-test: $(VENV)/bin/python $(NEWMAN) ## compose on ports of its own: the end-to-end suites, its own checks and smoke.sh, then down -v
	@echo "==> compose test"
	@deploy/compose/stack test

compose-drills: $(VENV)/bin/python ## compose on ports of its own: kill, restart, pause and stop its parts under load
	@echo "==> compose drills"
	@deploy/compose/stack drills
