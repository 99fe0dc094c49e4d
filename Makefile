# Berth: the two commands of the README are `make run` and `make test`.

GO ?= go
BIN := bin/berth

.PHONY: build run test generate fuzz bench lint example-image pytest

build:
	$(GO) build -o $(BIN) ./cmd/berth
	$(GO) build -o bin/berth-agent ./cmd/berth-agent

# Build and start Berth for this machine: the control plane on 127.0.0.1:8450
# (data in ~/.berth/data) and an agent running tasks on the local Docker Engine.
run: build
	./$(BIN) dev

# The image examples/ runs (see examples/README.md): Debian's static busybox
# (apt-get install busybox-static) FROM scratch, built from a context in a
# temporary directory, with nothing pulled. The agent uses a local image as is.
EXAMPLE_IMAGE := berth-examples/busybox:latest
example-image:
	@test -x /bin/busybox && ! ldd /bin/busybox >/dev/null 2>&1 || \
	  { echo "example-image needs a static /bin/busybox: apt-get install busybox-static"; exit 1; }
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	  mkdir -p "$$dir/rootfs/bin" "$$dir/rootfs/tmp"; chmod 1777 "$$dir/rootfs/tmp"; \
	  cp /bin/busybox "$$dir/rootfs/bin/"; \
	  for a in $$(/bin/busybox --list); do [ "$$a" = busybox ] || ln -s busybox "$$dir/rootfs/bin/$$a"; done; \
	  cp examples/image/Dockerfile "$$dir/"; \
	  docker build -q -t $(EXAMPLE_IMAGE) "$$dir" >/dev/null; \
	  echo "built $(EXAMPLE_IMAGE)"

# Everything CI checks: formatting, vet, generated code up to date (a test),
# all tests with the race detector, and short fuzzing runs of the request
# decoders (ECS's and SSM's) and of the cluster query language.
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) pytest
	$(MAKE) fuzz FUZZTIME=20s

# The emulator's boto3 example (docs/emulator.md), with Debian's python3,
# python3-boto3 and python3-pytest. Skipped when they are missing, except
# under CI=true, where that fails.
PYTHON ?= /usr/bin/python3
pytest:
	@if ! $(PYTHON) -c 'import boto3, pytest' 2>/dev/null; then \
	  if [ "$$CI" = true ]; then echo "pytest: $(PYTHON) with boto3 and pytest is needed (apt-get install python3-boto3 python3-pytest)"; exit 1; fi; \
	  echo "pytest: skipped, $(PYTHON) has no boto3 or pytest (apt-get install python3-boto3 python3-pytest)"; exit 0; fi; \
	  $(GO) build -o bin/berth ./cmd/berth && BERTH_BIN=$(CURDIR)/bin/berth $(PYTHON) -m pytest -q -p no:cacheprovider examples/emulator/python

FUZZTIME ?= 1m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDispatch -fuzztime $(FUZZTIME) ./api/ecs
	$(GO) test -run '^$$' -fuzz FuzzSSMDispatch -fuzztime $(FUZZTIME) ./api/ssm
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/scheduler/query
	$(GO) test -run '^$$' -fuzz '^FuzzACSFrame$$' -fuzztime $(FUZZTIME) ./internal/acs
	$(GO) test -run '^$$' -fuzz '^FuzzTCSFrame$$' -fuzztime $(FUZZTIME) ./internal/acs

generate:
	$(GO) generate ./...

bench: build
	$(GO) run ./bench/api -server ./$(BIN)
	$(GO) run ./bench/tasks -berth ./$(BIN) -runs 50
	$(GO) run ./bench/agentmem -bin bin
	$(GO) run ./bench/placement -berth ./$(BIN) -sizes 1000,10000 -tasks-per-instance 10 -no-telemetry
	$(GO) run ./bench/services -berth ./$(BIN) -tasks 50
