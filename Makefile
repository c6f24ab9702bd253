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
# Size of `make soak` (devices x virtual days).
SOAK_DEVICES ?= 100000
SOAK_DAYS    ?= 7
# A directory for `make soak` to write a heap profile into at the end of
# every virtual day (day-N.heap); empty for none.
SOAK_HEAP    ?=

# Ginkgo's CLI, pinned in go.mod as a tool.
GINKGO    ?= $(GO) tool ginkgo
# Where the scenario suite writes its JUnit and JSON reports.
REPORTS   ?= out/ci

.PHONY: all build test lint deps test-unit test-kernel test-scenarios test-real test-race bench soak fuzz gallery clean

all: build

build:
	$(GO) build $(PKGS)

## lint: gofmt must have nothing to say and go vet must pass.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

## deps: system packages the kernel and real-server tests need
## (iproute2, nftables/iptables, ethtool, conntrack, mosquitto); each
## script installs only what is missing.
deps:
	.ci/kernel-deps.sh
	.ci/mosquitto.sh

## test: everything: lint, every package's tests, the scenario suite with
## its reports, the real-server specs, and race-enabled runs of the engine.
test: lint deps test-unit test-kernel test-scenarios test-real test-race

## test-unit: every package's tests, except the two Ginkgo suites that
## test-scenarios and test-real run through the Ginkgo CLI and the kernel
## lab tests that test-kernel runs.
SUITES := ^(TestScenarios|TestRealServers)$$
KERNEL := ^(TestKernelDifferential|TestQUICThroughLinuxNAT)$$
test-unit:
	$(GO) test -count=1 -timeout 12m -skip '$(SUITES)|$(KERNEL)' $(PKGS)

## test-kernel: the tests against the Linux kernel's NAT (namespaces,
## root), one package at a time and with nothing else running: they
## check wall-clock timers, which a loaded machine delays (quic-go's
## PINGs were seen 1.7 s late beside test-unit's other packages).
test-kernel:
	$(GO) test -count=1 -p 1 -timeout 5m -run '$(KERNEL)' ./nat/ ./harness/internal/quiclab/

## test-scenarios: the harness suite (the scenario library, the acceptance
## specs, results and sweeps) in parallel, with JUnit and JSON reports.
test-scenarios:
	mkdir -p $(REPORTS)
	$(GINKGO) -p --timeout=10m --junit-report=junit.xml --json-report=report.json --output-dir=$(REPORTS) ./harness -- -test.run '^TestScenarios$$'

## test-real: natsim pushd and the agreement of virtual, pushd and
## mosquitto runs (label real-server); they start their own brokers.
test-real:
	$(GINKGO) --timeout=6m --label-filter=real-server ./cmd/natsim -- -test.run '^TestRealServers$$'

test-race:
	$(GO) test -count=1 -race -timeout 10m ./sim/...

## bench: every benchmark once with its floor; BENCH=regex BENCHTIME=3x to narrow.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem $(PKGS)

## soak: SOAK_DEVICES phones (cgnat-100k) for SOAK_DAYS virtual days; fails
## unless RSS on the last day, read after a collection that returned its free
## pages to the OS, is within 5% of day 1 and no goroutine leaked.
## SOAK_PARTITIONS (default 1, one world) sets the scenario's partitions.
## Not part of CI (docs/engine.md, "Soak").
soak:
	$(GO) test -count=1 -timeout 0 -v -run '^TestSoak$$' ./harness -args -soak -soak.devices $(SOAK_DEVICES) -soak.days $(SOAK_DAYS) $(if $(SOAK_PARTITIONS),-soak.partitions $(SOAK_PARTITIONS)) $(if $(SOAK_HEAP),-soak.heapprofiles $(abspath $(SOAK_HEAP)))

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## gallery: redraw docs/gallery/ and the README's gallery section from the
## shipped scenarios (TestGallery fails when they are stale).
gallery:
	$(GO) test -count=1 -run '^TestGallery$$' ./harness -args -update-gallery

clean:
	rm -rf out results
