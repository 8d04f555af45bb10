# The front door for people and for CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK := deploy/local/stack
VENV := .venv
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GO_MODULES := gen/go dbsvc-go logsvc-go

.PHONY: help up down status restart logs test lint go-test py-test smoke generate tools

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up: ## install what is missing, start the whole store and wait until it is healthy
	@$(STACK) up

down: ## stop every process of the store (data stays in .state/)
	@$(STACK) down

status: ## show what runs where
	@$(STACK) status

restart: ## rebuild the services and restart them (after changing their code)
	@$(STACK) install
	@$(STACK) run $(VENV)/bin/supervisorctl -c deploy/local/supervisord.conf restart logsvc dbsvc api-1 api-2
	@$(STACK) up

logs: ## follow the Kafka topic log-channel with Kafka's console consumer
	@$(STACK) run bash -c 'exec java -Xmx128m -Dlog4j.configuration=file:deploy/local/kafka/tools-log4j.properties \
	  -cp ".state/kafka/libs/*" org.apache.kafka.tools.consumer.ConsoleConsumer \
	  --bootstrap-server 127.0.0.1:$$KAFKA_EXTERNAL_PORT --topic $$KAFKA_TOPIC --from-beginning \
	  --property print.key=true --property key.separator=" | "'

test: up tools lint go-test py-test smoke ## start the store if needed, then run every linter and test
	@echo "==> all tests passed"

tools: $(VENV)/bin/python .state/bin/protoc-gen-go .state/bin/protoc-gen-go-grpc

.state/bin/protoc-gen-go:
	GOBIN=$(CURDIR)/.state/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

.state/bin/protoc-gen-go-grpc:
	GOBIN=$(CURDIR)/.state/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

generate: tools ## regenerate the Go and Python code from proto/
	$(VENV)/bin/buf lint
	$(VENV)/bin/buf generate

lint: tools ## ruff, gofmt, go vet and buf lint
	@echo "==> lint"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@unformatted=$$(gofmt -l $(GO_MODULES)); \
	  if [[ -n "$$unformatted" ]]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	@for m in $(GO_MODULES); do (cd $$m && echo "go vet $$m" && go vet ./...) || exit 1; done
	$(VENV)/bin/buf lint

go-test: ## go test for both Go services against the running PostgreSQL and Kafka
	@echo "==> go test"
	@$(STACK) run bash -c 'cd dbsvc-go && go test -count=1 ./...'
	@$(STACK) run bash -c 'cd logsvc-go && go test -count=1 ./...'

py-test: ## pytest: the API and the whole stack, end to end through NGINX
	@echo "==> pytest"
	@$(STACK) run $(VENV)/bin/pytest

smoke: ## scripts/smoke.sh: every operation with curl
	@echo "==> smoke test"
	@$(STACK) run scripts/smoke.sh
