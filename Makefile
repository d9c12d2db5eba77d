# Everyday loops. Each target is plain go tooling: the same commands work without make.
# FUZZTIME bounds each fuzz target in `make fuzz`; BENCH_N sizes `make bench`.

GO       ?= go
FUZZTIME ?= 10s
BENCH_N  ?= 10000

.DEFAULT_GOAL := help
.PHONY: help generate verify lint test test-race bench fuzz run

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

generate: ## regenerate generated code: templ components (web/templates), then go generate ./...
	$(GO) tool templ generate
	$(GO) generate ./...

verify: generate ## generate, then fail if that changed any tracked file
	git diff --exit-code

lint: ## go vet, and fail on files gofmt would change
	$(GO) vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

test: ## run the tests
	$(GO) test ./...

test-race: ## run the tests with the race detector
	$(GO) test -race ./...

bench: ## cockpit bench on the reference flow, then the Go benchmarks
	$(GO) run ./cmd/cockpit bench --n $(BENCH_N)
	$(GO) test -bench=. -run='^$$' ./...

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=$$(dirname $$file); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "== $$pkg $$fn"; \
			$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

run: ## run cockpit with the demo on 127.0.0.1:8080
	$(GO) run ./cmd/cockpit
