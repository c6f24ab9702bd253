# natsim build, test and benchmark entry points. `make test` is what CI runs
# (.ci/run calls it with CI=true); it installs the system packages the
# kernel and real-server tests need when they are missing.

GO        ?= go
PKGS      ?= ./...
# Fuzz time per target for `make fuzz`.
FUZZTIME  ?= 30s
# Benchmark selection and time for `make bench`.
BENCH     ?= .
BENCHTIME ?= 1x

.PHONY: all build test lint deps test-unit test-race bench fuzz clean

all: build

build:
	$(GO) build $(PKGS)

## lint: gofmt must have nothing to say and go vet must pass.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

## deps: system packages some tests need (iproute2, nftables, ...).
deps:
	@if [ -x .ci/kernel-deps.sh ]; then .ci/kernel-deps.sh; fi

## test: everything: lint, all tests, and race-enabled runs of the engine.
test: lint deps test-unit test-race

test-unit:
	$(GO) test -count=1 -timeout 12m $(PKGS)

test-race:
	$(GO) test -count=1 -race -timeout 10m ./sim/...

## bench: every benchmark once with its floor; BENCH=regex BENCHTIME=3x to narrow.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem $(PKGS)

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf out results
