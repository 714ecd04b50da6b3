# reckon's front door: a thin layer over CMake. See README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all build deps deps-peers test test-long asan demo bench docs clean lint fuzz fuzz-long

all: build

deps:
	@scripts/install-deps.sh

deps-peers:
	@scripts/install-deps.sh --peers

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

# Every test suite; the peers (pandas, DuckDB, PyTorch) are installed first.
test: deps-peers $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The long tests (tests/long/*.sh: minutes each, e.g. the serving soak's million requests), one
# after another, each reporting as an e2e test does.
test-long: deps-peers build
	@status=0; for t in tests/long/*.sh; do echo "== $$t"; \
	  RECKON_BIN=$(abspath $(BUILD))/reckon RECKON_SOURCE_DIR=$(CURDIR) bash $$t || status=1; done; exit $$status

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps-peers
	@cmake -S . -B $(ASAN_BUILD) -DRECKON_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  RECKON_SANITIZED=1 ctest --output-on-failure -j $(JOBS) --timeout 1800

# libFuzzer on every tests/fuzz target for FUZZ_SECONDS each; the corpus that `make test` replays
# is then merged down to the inputs that add coverage.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DRECKON_FUZZ=ON -DRECKON_CUDA=OFF \
	  -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@for f in $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS)); do \
	  t=$${f##*/fuzz_}; mkdir -p tests/fuzz/corpus/$$t; \
	  echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 tests/fuzz/corpus/$$t || exit 1; \
	  rm -rf $(FUZZ_BUILD)/min-$$t && mkdir -p $(FUZZ_BUILD)/min-$$t && \
	  $$f -merge=1 $(FUZZ_BUILD)/min-$$t tests/fuzz/corpus/$$t >/dev/null 2>&1 && \
	  rm -rf tests/fuzz/corpus/$$t && mv $(FUZZ_BUILD)/min-$$t tests/fuzz/corpus/$$t; \
	done

# Every tests/fuzz target for FUZZ_LONG_SECONDS each, going on past findings (libFuzzer's fork
# mode), then a summary line per target: executions and findings (saved, one file per input,
# under $(FUZZ_BUILD)/findings/<target>/). The committed corpus seeds each run but is left as
# it is (a scratch copy grows instead): `make fuzz` is the target that updates it.
FUZZ_LONG_SECONDS ?= 600
fuzz-long: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DRECKON_FUZZ=ON -DRECKON_CUDA=OFF \
	  -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@rm -rf $(FUZZ_BUILD)/long $(FUZZ_BUILD)/findings
	@for f in $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS)); do \
	  t=$${f##*/fuzz_}; w=$(FUZZ_BUILD)/long/$$t; a=$(FUZZ_BUILD)/findings/$$t; \
	  mkdir -p $$w/corpus $$a && cp tests/fuzz/corpus/$$t/* $$w/corpus/ 2>/dev/null; \
	  echo "== fuzzing $$t for $(FUZZ_LONG_SECONDS) s (log: $$w/log.txt)"; \
	  $$f -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -max_total_time=$(FUZZ_LONG_SECONDS) \
	    -max_len=65536 -rss_limit_mb=4096 -timeout=30 -artifact_prefix=$$a/ $$w/corpus > $$w/log.txt 2>&1 || true; \
	done
	@echo "target            executions   crash  oom  timeout  leak"
	@status=0; for f in $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS)); do \
	  t=$${f##*/fuzz_}; a=$(FUZZ_BUILD)/findings/$$t; \
	  runs=$$(grep -o '^#[0-9]*' $(FUZZ_BUILD)/long/$$t/log.txt | tail -1 | tr -d '#'); \
	  c=$$(ls $$a | grep -c '^crash-'); o=$$(ls $$a | grep -c '^oom-'); \
	  s=$$(ls $$a | grep -c '^timeout-'); l=$$(ls $$a | grep -c '^leak-'); \
	  printf '%-16s %11s %7s %4s %8s %5s\n' $$t "$${runs:-0}" $$c $$o $$s $$l; \
	  [ $$((c + o + s + l)) -eq 0 ] || status=1; \
	done; \
	[ $$status -eq 0 ] || echo "findings: see $(FUZZ_BUILD)/findings/ (replay one with $(FUZZ_BUILD)/fuzz_<target> FILE)"; \
	exit $$status

demo: build
	@scripts/demo.sh $(BUILD)/reckon

bench: deps-peers build
	@bench/run.sh $(BUILD)/reckon

# Regenerate docs/cli/<command>.md from the flag tables.
docs: build
	@$(BUILD)/reckon docs docs/cli

# cppcheck sees the public headers only (-I include), so src/cli/flags.h's macros stay unexpanded;
# in cmd_train.c they expand the model settings table inside a struct, which is then no C it parses.
lint:
	@bash -o pipefail -c 'cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
	  --suppress=missingIncludeSystem --suppress=unknownMacro --suppress=syntaxError:src/cli/cmd_train.c \
	  --inline-suppr -I include src 2>&1 | head -40'   # pipefail: a finding fails the target

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
