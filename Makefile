# rowflux — build, test and run the agent.
GO    ?= go
BIN   := bin/agent
PKGS  := ./...

.PHONY: all build test test-faults soak test-oracle bench lint run configs fuzz examples proto clean

all: lint test build

## build: compile the agent to bin/agent
build:
	$(GO) build -o $(BIN) ./cmd/agent

# The race detector needs cgo and a C compiler; CI always has one (.ci/run
# installs gcc). Without one, the suite still runs, without -race.
RACE := $(shell command -v $${CC:-gcc} >/dev/null 2>&1 && echo -race)

## test: the whole suite, with the race detector when a C compiler is present
test:
	@[ -n "$(RACE)" ] || echo "make test: no C compiler found; running without the race detector (install gcc for -race)"
	$(GO) test $(RACE) -count=1 $(PKGS)

## test-faults: the fault-injection suite against real services (kill -9, source and sink
## outages, full and read-only state_dir, hostile input). Each scenario appends its row
## (ledger, delivered, missed, duplicates) to bin/faults.jsonl; docs/reliability.md quotes it.
## -p 1: scenarios stop and start servers and load the machine; they run one package at a time.
FAULTS_REPORT ?= $(CURDIR)/bin/faults.jsonl
test-faults:
	@mkdir -p $(dir $(FAULTS_REPORT)) && rm -f $(FAULTS_REPORT)
	ROWFLUX_FAULTS_REPORT=$(FAULTS_REPORT) $(GO) test -tags faults -count=1 -p 1 -timeout 40m -run '^TestFault' $(PKGS)
	@$(GO) run ./agent/faultreport/table $(FAULTS_REPORT)

## soak: 10 minutes at a steady 2,000 changes/s with /metrics scraped every second; prints
## the RSS and goroutine curve (docs/reliability.md quotes a run). SOAK_DURATION shortens it.
SOAK_DURATION ?= 10m
soak:
	@mkdir -p bin
	ROWFLUX_SOAK_DURATION=$(SOAK_DURATION) ROWFLUX_SOAK_CSV=$(CURDIR)/bin/soak.csv $(GO) test -tags soak -count=1 -timeout 30m -run '^TestSoak' -v ./cmd/agent/

## test-oracle: the Oracle tests against a real server (no CI machine runs one, so `make test`
## skips them): make test-oracle ORACLE_DSN=oracle://rowflux:PASSWORD@localhost:1521/FREEPDB1
## examples/oracle/README.md starts Oracle Database Free in a container and creates the user.
## -p 1: the packages' tests share the server's transactions table, one package at a time.
test-oracle:
	@if [ -z "$$ORACLE_DSN" ]; then \
		echo "make test-oracle: ORACLE_DSN is not set. Start an Oracle Database (examples/oracle/README.md), then:"; \
		echo "  make test-oracle ORACLE_DSN=oracle://rowflux:PASSWORD@localhost:1521/FREEPDB1"; \
		exit 1; \
	fi
	$(GO) test -count=1 -p 1 -run 'Oracle' $(PKGS)

## bench: every Go benchmark, on one core (the targets are per core)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 $(PKGS)

## lint: gofmt and go vet
lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

## run: the quickstart: a workload on an embedded SQLite file, captured and printed (Ctrl-C stops it)
run: build
	@BIN=./$(BIN) examples/quickstart/run.sh

## configs: regenerate configs/ from the plugins' embedded sample.conf files
configs: build
	./$(BIN) config agent > configs/agent.conf
	@for p in $$(./$(BIN) plugins | awk '/^[a-z]+:$$/{k=$$1; sub(":","",k); next} {print k"."$$1}'); do \
		./$(BIN) config $$p > configs/$$p.conf; done

## fuzz: run each fuzz target briefly (their seed corpora run in make test)
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./agent/config/
	$(GO) test -run '^$$' -fuzz FuzzInfluxEncode -fuzztime 30s ./sdk/encoding/
	$(GO) test -run '^$$' -fuzz FuzzJSONEncode -fuzztime 30s ./sdk/encoding/
	$(GO) test -run '^$$' -fuzz FuzzDecodeEvents -fuzztime 30s ./sdk/plugin/pluginv1/
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 30s ./plugins/common/expression/
	$(GO) test -run '^$$' -fuzz FuzzEval -fuzztime 30s ./plugins/common/expression/
	$(GO) test -run '^$$' -fuzz FuzzClientFrames -fuzztime 30s ./plugins/outputs/websocket/
	$(GO) test -run '^$$' -fuzz FuzzParseImage -fuzztime 30s ./plugins/inputs/sqlite/

## examples: build the example external plugins to bin/plugins/
examples:
	$(GO) build -o bin/plugins/currency ./examples/plugins/currency
	$(GO) build -o bin/plugins/jsonfile ./examples/plugins/jsonfile

## proto: regenerate sdk/plugin/pluginv1 from the plugin protocol's .proto. Needs protoc
## (Debian: protobuf-compiler; the committed code was made with 3.21.12); the Go generators
## are the versions go.mod pins as tools.
PROTO := rowflux/plugin/v1/plugin.proto
proto:
	@command -v protoc >/dev/null || { echo "make proto: protoc not found (apt-get install protobuf-compiler)"; exit 1; }
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o bin/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	protoc -I sdk/plugin/proto --plugin=bin/protoc-gen-go --plugin=bin/protoc-gen-go-grpc \
		--go_out=. --go_opt=module=github.com/rowflux/rowflux \
		--go-grpc_out=. --go-grpc_opt=module=github.com/rowflux/rowflux $(PROTO)

clean:
	rm -rf bin
