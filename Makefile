# revrx-supervise — the two set-up commands are `make demo` and `make test`.
GO      ?= go
BIN     := bin/revrx-supervise
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Debian packages the tests and the demo run: real Redis, real RabbitMQ and real Celery.
DEB_PKGS := redis-server rabbitmq-server celery python3-celery python3-redis curl prometheus chromium docker-compose

.PHONY: all build deps test test-go test-examples test-short demo bench footprint startup chaos clean

all: build

# STATIC compiles as the image's build stage does (examples/docker/Dockerfile):
# no cgo, no local paths. The binary, go vet, the examples module and the
# binaries the tests build (harness.BuildSupervisor) all use it, so one compile
# of the dependencies serves them all; only the race detector needs its own
# (and cgo).
STATIC := CGO_ENABLED=0 GOFLAGS=-trimpath

build:
	$(STATIC) $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/revrx-supervise

# deps installs what is missing (as root, or through sudo).
deps:
	@if ! command -v redis-server >/dev/null || ! command -v curl >/dev/null || \
	    ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null || ! command -v chromium >/dev/null || \
	    ! command -v docker-compose >/dev/null || \
	    ! test -x /usr/lib/rabbitmq/bin/rabbitmq-server || \
	    ! /usr/bin/python3 -c 'import celery, redis' 2>/dev/null; then \
	  echo "installing $(DEB_PKGS)"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEB_PKGS); \
	fi

# The packages of the examples module (examples/go.mod) that check the files
# users copy: its own module, so the main module's ./... does not see them.
EXAMPLES_PKGS := ./docker/ ./ecs/ ./grafana/ ./kubernetes/ ./prometheus/

# test: gofmt, vet, unit tests (race detector) and the end-to-end tests against
# a private redis-server and real Celery workers (test-go), and the examples
# module's checks of the deployment files (test-examples), the two side by side
# (the end-to-end tests mostly wait, the examples mostly compile). End-to-end
# tests run four at a time: each has its own Redis, supervisor and workers.
test: deps
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(MAKE) --no-print-directory -j2 --output-sync=line test-go test-examples
	bash -n examples/demo.sh
	/usr/bin/python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' \
	    examples/*.py examples/app/*.py pool/apphost.py pool/ext/*.py cmd/revrx-supervise/testdata/apps/*.py

test-go:
	$(STATIC) $(GO) vet ./...
	$(GO) test -race -count=1 -parallel 4 -timeout 15m ./...

test-examples:
	cd examples && $(STATIC) $(GO) vet $(EXAMPLES_PKGS) && $(STATIC) $(GO) test -count=1 -timeout 15m $(EXAMPLES_PKGS)

# test-short skips the end-to-end tests (no Celery needed).
test-short:
	$(GO) test -short -race -count=1 ./...
	cd examples && $(STATIC) $(GO) test -short -count=1 $(EXAMPLES_PKGS)

# demo: the burst demo on a private Redis, or on a private RabbitMQ with
# BROKER=rabbitmq (examples/demo.sh).
demo: deps build
	BROKER=$(or $(BROKER),redis) examples/demo.sh $(BIN)

# bench: replays the traces in supervisor/simulate/testdata against revrx-supervise, Celery's
# --autoscale and fixed pools on real Redis and Celery (about 35 min; filters and
# columns in docs/benchmark.md, "Reference traces").
bench: deps build
	$(STATIC) $(GO) build -o bin/revrx-bench ./cmd/revrx-bench
	bin/revrx-bench -bin $(BIN) -broker $(or $(BROKER),redis)

# footprint: the supervisor's CPU and RSS with 10 idle workers (exec'd and
# forked), PSS per worker tree and of the app host, Redis commands per poll
# (revrx-bench's idle scenario; MEASURE=60 seconds by default).
footprint: deps build
	$(STATIC) $(GO) build -o bin/revrx-bench ./cmd/revrx-bench
	bin/revrx-bench -bin $(BIN) -scenarios idle

# startup: worker request -> ready and PSS per worker, exec'd vs forked from the
# app host, for examples/app tasks and heavy (a Django-sized import); about 2 min.
startup: deps build
	$(STATIC) $(GO) build -o bin/revrx-startup ./cmd/revrx-startup
	bin/revrx-startup

# chaos: on the pool engine (the default), SIGKILLs the busy worker main and
# pool processes, restarts Redis twice, poisons the queue and the celeryev
# channel, SIGTERMs the supervisor mid-scale-up, and prints what was lost, run
# twice, restored, quarantined or left in unacked; then a stock celery worker
# under Celery's own pool_shrink for comparison (reported); exits 1 when an
# expectation fails (about 4 min; CHAOS_SHORT=1 for the ~1 min run, CHAOS_SEED=N
# to replay a seed, CHAOS_ENGINE=workers for the whole-worker engine;
# cmd/revrx-chaos). BROKER=rabbitmq runs it on a private RabbitMQ node
# instead: the node stopped and started again twice, garbage on the celeryev
# exchange, the broker's own requeue of a killed main's messages timed, the
# quarantine queue checked, no stock storm (about 3 min).
chaos: deps build
	$(STATIC) $(GO) build -o bin/revrx-chaos ./cmd/revrx-chaos
	bin/revrx-chaos -broker $(or $(BROKER),redis) -bin $(BIN)

clean:
	rm -rf bin .demo
