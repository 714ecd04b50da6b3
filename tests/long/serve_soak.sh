#!/usr/bin/env bash
# The long soak of issue 20: tests/e2e/serve_soak.sh with one million requests (VmRSS after them
# within 10% of VmRSS after the first 10,000) and 50 unload/load cycles under 4 clients. Minutes
# long, so not in `make test`: `make test-long` runs it (RECKON_BIN, RECKON_SOURCE_DIR as for the
# e2e tests; SOAK_REQUESTS and SOAK_CYCLES to change the sizes).
set -u
export SOAK_REQUESTS=${SOAK_REQUESTS:-1000000} SOAK_CYCLES=${SOAK_CYCLES:-50}
exec bash "$(dirname "$0")/../e2e/serve_soak.sh"
