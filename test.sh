#!/usr/bin/env bash
# The one command that runs every test of this repository:
#   system packages (only when missing) → cargo fmt --check → clippy -D warnings → cargo test →
#   release build → npm ci (only when the lockfile changed) → node:test protocol tests (both
#   kurento-client generations) → browser tests (one at a time).
# Every step runs even if an earlier one failed (except those that need the build); the exit status
# is non-zero if any step failed, and the last line is a one-line summary of tests passed, failed
# and skipped (a test that cannot run here is counted as skipped, never as passed; the failing
# ones are named above it). A toolchain that is missing or too old stops it first, saying what to
# install.
#
# Environment:
#   KMS_BIN            server binary used by the Node tests (default: target/release/kurento-media-server)
#   SKIP_APT=1         do not check/install system packages
#   SKIP_CARGO=1       skip fmt/clippy/cargo test/build (iterate on the Node tests with a prebuilt KMS_BIN)
#   NODE_TEST_ONLY=re  run only Node test files whose path matches this regex (grep -E)
set -uo pipefail

cd "$(dirname "$0")"
ROOT=$(pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

declare -a RESULTS=()
FAILED=0
START=$(date +%s)

step() {
  local name=$1
  shift
  local t0 t1 rc
  t0=$(date +%s)
  echo
  echo "=== ${name}: $*"
  "$@"
  rc=$?
  t1=$(date +%s)
  if [[ $rc -eq 0 ]]; then
    RESULTS+=("${name}:ok($((t1 - t0))s)")
  else
    RESULTS+=("${name}:FAIL")
    FAILED=1
  fi
  return $rc
}

skip() {
  RESULTS+=("$1:skipped")
  echo
  echo "=== $1: skipped ($2)"
}

# --- (a) system packages ---------------------------------------------------------------------
install_system_packages() {
  "$ROOT/scripts/system-packages.sh" test
}

# --- (f) npm dependencies ----------------------------------------------------------------------
npm_deps() (
  # A subshell, so the cd below does not move the rest of the script.
  cd "$ROOT/compat-tests" || return 1
  local stamp=node_modules/.installed-lock-hash hash
  if [[ -f package-lock.json ]]; then
    hash=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$hash" ]]; then
      echo "node_modules up to date with package-lock.json"
      return 0
    fi
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund || return 1
  else
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund || return 1
    hash=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
  fi
  echo "$hash" >"$stamp"
)

# --- (g) node tests ----------------------------------------------------------------------------
NODE_SUMMARY=()
run_node_tests() {
  local label=$1 concurrency=$2
  shift 2
  local files=("$@")
  if [[ -n ${NODE_TEST_ONLY:-} ]]; then
    mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -E "$NODE_TEST_ONLY")
  fi
  if [[ ${#files[@]} -eq 0 ]]; then
    # Running no test is a failure, never a pass, unless NODE_TEST_ONLY filtered this set out.
    echo "no test files" >&2
    [[ -n ${NODE_TEST_ONLY:-} ]]
    return
  fi
  local out
  out=$(mktemp)
  # A hung test must not eat CI's 90 minutes: every file gets a deadline.
  (cd "$ROOT/compat-tests" &&
    node --test --test-force-exit --test-concurrency="$concurrency" --test-timeout=240000 \
      --test-reporter=spec "${files[@]}") 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  local pass fail cancelled skipped
  pass=$(grep -aE '^ℹ pass [0-9]+' "$out" | tail -1 | awk '{print $3}')
  fail=$(grep -aE '^ℹ fail [0-9]+' "$out" | tail -1 | awk '{print $3}')
  cancelled=$(grep -aE '^ℹ cancelled [0-9]+' "$out" | tail -1 | awk '{print $3}')
  skipped=$(grep -aE '^ℹ skipped [0-9]+' "$out" | tail -1 | awk '{print $3}')
  # The spec reporter lists the failures again after the totals ("✖ failing tests:").
  while IFS= read -r l; do FAILED_TESTS+=("${label}: $l"); done < <(sed -n '/^✖ failing tests:/,$p' "$out" | grep -aE '^[[:space:]]*✖ ' | grep -av '✖ failing tests:' | sed -E 's/^[[:space:]]*✖ //; s/ \([0-9.]+ms\)$//')
  # node:test's own totals, in the TAP comment form ("# pass N", "# fail N").
  grep -aE '^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$out" | sed 's/^ℹ /# /'
  echo "--- ${label}: ${pass:-0} passed, ${fail:-0} failed, ${cancelled:-0} cancelled"
  NODE_SUMMARY+=("${label}: ${pass:-0} passed, ${fail:-0} failed, ${cancelled:-0} cancelled")
  # A run that crashed before node:test printed its totals is a failure, not an empty pass.
  if [[ $rc -eq 0 && -z $pass ]]; then rc=1; fi
  TOTAL_PASS=$((TOTAL_PASS + ${pass:-0}))
  TOTAL_FAIL=$((TOTAL_FAIL + ${fail:-0}))
  TOTAL_SKIP=$((TOTAL_SKIP + ${skipped:-0}))
  rm -f "$out"
  return $rc
}

"$ROOT/scripts/toolchain.sh" test || exit 1
if [[ ${SKIP_APT:-0} == 1 ]]; then skip apt "SKIP_APT=1"; else step apt install_system_packages; fi
if [[ ${SKIP_CARGO:-0} == 1 ]]; then
  for s in fmt clippy cargo-test build; do skip "$s" "SKIP_CARGO=1"; done
else
  step fmt cargo fmt --all -- --check
  step clippy cargo clippy --workspace --all-targets -- -D warnings
fi
cargo_tests() {
  local out rc skips
  out=$(mktemp)
  skips=$(mktemp)
  # --no-fail-fast: a failing test binary must not hide the ones after it. Tests that cannot run
  # here write a line to $KMS_TEST_SKIPS (kurento_protocol::test_skip) and report "ok".
  KMS_TEST_SKIPS=$skips cargo test --workspace --no-fail-fast 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  local p f s
  p=$(grep -aE '^test result:' "$out" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
  f=$(grep -aE '^test result:' "$out" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
  s=$(wc -l <"$skips")
  while IFS= read -r l; do SKIPPED_TESTS+=("cargo: $l"); done <"$skips"
  while IFS= read -r l; do FAILED_TESTS+=("cargo: $l"); done < <(grep -aE '^test .* \.\.\. FAILED$' "$out" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/')
  TOTAL_PASS=$((TOTAL_PASS + ${p:-0} - s))
  TOTAL_FAIL=$((TOTAL_FAIL + ${f:-0}))
  TOTAL_SKIP=$((TOTAL_SKIP + s))
  rm -f "$out" "$skips"
  return $rc
}
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
SKIPPED_TESTS=()
FAILED_TESTS=()
if [[ ${SKIP_CARGO:-0} == 1 ]]; then
  BUILD_OK=0
else
  step cargo-test cargo_tests
  if step build cargo build --release; then BUILD_OK=1; else BUILD_OK=0; fi
fi
if step npm npm_deps; then NPM_OK=1; else NPM_OK=0; fi

export KMS_BIN=${KMS_BIN:-$ROOT/target/release/kurento-media-server}
if [[ $NPM_OK == 1 && ( $BUILD_OK == 1 || -x $KMS_BIN ) ]]; then
  mapfile -t PROTOCOL_TESTS < <(cd "$ROOT/compat-tests" && ls test/*.test.js 2>/dev/null)
  # Each protocol test file starts its own server on a free port, so two can run side by side.
  step node-protocol run_node_tests protocol 2 "${PROTOCOL_TESTS[@]}"
  mapfile -t BROWSER_TESTS < <(cd "$ROOT/compat-tests" && find browser -name '*.test.js' -not -path '*/node_modules/*' 2>/dev/null | sort)
  if [[ ${#BROWSER_TESTS[@]} -gt 0 ]]; then
    # Browsers are heavy on 2 cores: one file at a time.
    step node-browser run_node_tests browser 1 "${BROWSER_TESTS[@]}"
  else
    skip node-browser "no compat-tests/browser/*.test.js"
  fi
else
  skip node-protocol "needs the release build and npm dependencies"
  skip node-browser "needs the release build and npm dependencies"
fi

END=$(date +%s)
echo
for s in "${NODE_SUMMARY[@]}"; do echo "node tests — $s"; done
if [[ $FAILED == 0 ]]; then
  echo "test.sh: PASS in $((END - START))s — ${RESULTS[*]}"
else
  echo "test.sh: FAIL in $((END - START))s — ${RESULTS[*]}"
fi
for t in "${SKIPPED_TESTS[@]}"; do echo "skipped — $t"; done
for t in "${FAILED_TESTS[@]}"; do echo "failed — $t"; done
# A failed step with no failed test (build, fmt, clippy) still counts as a failure.
if [[ $FAILED != 0 && $TOTAL_FAIL == 0 ]]; then TOTAL_FAIL=1; fi
echo "tests: ${TOTAL_PASS} passed, ${TOTAL_FAIL} failed, ${TOTAL_SKIP} skipped"
exit $FAILED
