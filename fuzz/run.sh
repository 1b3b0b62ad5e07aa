#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time on a copy of its seed corpus.
#
#   fuzz/run.sh [TIME_SECONDS [TARGET...]]     (defaults: 30 s, every target)
#
# Exits non-zero if a target crashed (a panic is a crash), timed out on one input (-timeout)
# or ran out of memory (-rss_limit_mb); the input that did it is saved under
# fuzz/artifacts/<target>/ and the end of libFuzzer's log is printed. Stable Rust suffices:
# `--sanitizer none` passes no -Z flag (see fuzz/README.md). Builds and runs are niced.
# Environment: FUZZ_NICE (default 19), RAYON_NUM_THREADS (default 1).
set -euo pipefail

cd "$(dirname "$0")"
TIME=${1:-30}
shift || true
ALL=(oracle checkpoint state_json text)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
NICE=(nice -n "${FUZZ_NICE:-19}")
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    "${NICE[@]}" cargo install --locked cargo-fuzz
fi

start=$(date +%s)
"${NICE[@]}" cargo fuzz build --sanitizer none
echo "fuzz: build took $(( $(date +%s) - start )) s"

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$base/gumbel-fuzz-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export GUMBEL_FUZZ_TMP="$tmp/scratch"
mkdir -p "$GUMBEL_FUZZ_TMP"

passed=0
failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$tmp/corpus/$t"
    cp corpus/"$t"/seed-* "$tmp/corpus/$t/"
    log="$tmp/$t.log"
    rc=0
    "${NICE[@]}" cargo fuzz run --sanitizer none "$t" "$tmp/corpus/$t" -- \
        -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "fuzz: $t ok: ${runs:-?} executions in ${TIME} s, ${rate:-?} exec/s, ${cov:-cov: ?}, corpus $(ls "$tmp/corpus/$t" | wc -l) inputs"
    else
        failed=$((failed + 1))
        echo "fuzz: $t FAILED (exit $rc) after ${runs:-?} executions:"
        # the panic (message and location), libFuzzer's verdict and the saved input
        grep -A1 -m1 'panicked at' "$log" | sed 's/^/    /' || true
        grep -E 'ERROR: libFuzzer|^SUMMARY|Test unit written to' "$log" | sed 's/^/    /' || true
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        if [ -n "$art" ] && [ -f "$art" ]; then
            if [ "$(wc -c <"$art")" -le 1024 ]; then
                echo "    input (base64): $(base64 -w0 "$art")"
            fi
            echo "    replay: cd fuzz && cargo fuzz run --sanitizer none $t ${art#"$PWD/"}"
        fi
        mkdir -p artifacts
        cp "$log" "artifacts/$t.log"
        echo "    full log: fuzz/artifacts/$t.log"
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
