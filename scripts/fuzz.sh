#!/usr/bin/env bash
# `make fuzz`: every fuzz target of fuzz/ for a bounded time (docs/fuzzing.md).
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  space-separated targets (default: all of them)
#
# Needs a nightly toolchain (cargo-fuzz builds with -Zsanitizer=address); installs cargo-fuzz
# when it is missing. Each target grows its corpus in fuzz/corpus/<target> (not committed) from
# the committed seeds in fuzz/seeds/<target>; a crash, panic, leak, OOM or timeout leaves its
# input in fuzz/artifacts/<target>/ and makes the script fail after the other targets have run.
# The last lines are one table row per target, as docs/fuzzing.md records them.
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
ALL_TARGETS="config repomd primary filelists stored journal"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

# Which dictionary helps each target mutate towards the input's syntax.
dict_for() {
    case "$1" in
        config) echo toml ;;
        journal) echo json ;;
        *) echo xml ;;
    esac
}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "make fuzz: no nightly Rust toolchain. cargo-fuzz needs one (it builds with" >&2
    echo "-Zsanitizer=address); install it with: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "make fuzz: installing cargo-fuzz (cargo install --locked cargo-fuzz)" >&2
    cargo install --locked cargo-fuzz
fi

for target in $TARGETS; do
    case " $ALL_TARGETS " in
        *" $target "*) ;;
        *) echo "make fuzz: no target $target (the targets: $ALL_TARGETS)" >&2; exit 2 ;;
    esac
done

# One build for all the targets, so the fuzzing time is spent fuzzing. -a: debug assertions
# (and overflow checks) on, as in the test suite.
(cd fuzz && cargo +nightly fuzz build -a)

mkdir -p fuzz/logs
failed=()
rows=()
for target in $TARGETS; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus"
    log=fuzz/logs/$target.log
    echo "== fuzz $target for ${SECONDS_PER_TARGET}s (log: $log)"
    # -timeout: one input taking 10 s is a finding (a parser must not hang); -rss_limit_mb:
    # 2 GB is an OOM finding. Paths are relative to fuzz/, where cargo fuzz runs libFuzzer.
    set +e
    (cd fuzz && cargo +nightly fuzz run -a "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -dict="dicts/$(dict_for "$target").dict" -print_final_stats=1) >"$log" 2>&1
    status=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    files=$(find "$corpus" -type f | wc -l)
    if [ "$status" -eq 0 ]; then
        finding=none
    else
        # The kind (panic, deadly signal, timeout, out-of-memory, leak) and the input it left.
        kind=$(grep -m1 -oE "panicked at [^ ]+|libFuzzer: (timeout|deadly signal|out-of-memory)|LeakSanitizer" "$log" || true)
        kind=$(echo "${kind#libFuzzer: }" | sed -E "s#/[^ ]*/registry/src/[^/]+/##")
        artifact=$(sed -n 's/^artifact_prefix=.*Test unit written to //p' "$log" | tail -1)
        artifact=${artifact:+fuzz/${artifact##*/fuzz/}}
        finding="${kind:-exit $status} (${artifact:-see $log})"
        failed+=("$target")
        grep -E "panicked at|ERROR:|SUMMARY|Test unit written|cargo fuzz run" "$log" >&2 || tail -5 "$log" >&2
    fi
    rows+=("| $(date -u +%F) | $target | $SECONDS_PER_TARGET | ${runs:-?} | $files | $finding |")
done

echo
echo "| date | target | seconds | executions | corpus files | findings |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "make fuzz: findings in ${failed[*]}: see fuzz/artifacts/ and docs/fuzzing.md" >&2
    exit 1
fi
