#!/usr/bin/env bash
# Runs the whole test suite against one or more build directories:
#   tests/run-tests.sh BUILD [BUILD2...]
# For each BUILD: every unit test binary BUILD/tests/unit/*, every guest
# kernel (BUILD/guest/*.elf, else build/guest/*.elf: guests are built once and
# also run under the sanitizer build's nvmx) under BUILD/nvmx, and every
# differential test binary BUILD/tests/diff/*.
#
# Every program prints one line per check starting with "PASS: ", "FAIL: " or
# "SKIP: "; this script tallies them. A program that exits unexpectedly
# (unit/diff: status != 0; guest: nvmx status != 1, i.e. not a clean
# isa-debug-exit with code 0) or times out adds one FAIL line of its own.
# Logs go to BUILD/test-logs/. Output ends with "N passed, N failed, N
# skipped"; the exit status is 1 if anything failed.
#
# Environment: JOBS (parallel programs, default nproc), TEST_TIMEOUT
# (seconds per program, default 120), NVMX_GUEST_ARGS (extra nvmx options).
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD [BUILD...]" >&2
    exit 2
fi

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
NVMX_GUEST_ARGS=${NVMX_GUEST_ARGS:-}
total_pass=0 total_fail=0 total_skip=0

# run_one KIND NAME LOG EXPECTED_STATUS CMD...: runs CMD with a timeout and
# writes LOG (output) and LOG.status (exit status).
run_one() {
    local kind=$1 name=$2 log=$3 expect=$4
    shift 4
    timeout -k 5 "$TEST_TIMEOUT" "$@" </dev/null >"$log" 2>&1
    local st=$?
    echo "$st $expect $kind $name" >"$log.status"
}

for build in "$@"; do
    build=${build%/}
    logdir=$build/test-logs
    rm -rf "$logdir"
    mkdir -p "$logdir"
    logs=()
    running=0

    launch() {
        if [ "$running" -ge "$JOBS" ]; then
            wait -n 2>/dev/null || true
            running=$((running - 1))
        fi
        run_one "$@" &
        running=$((running + 1))
    }

    if [ -d "$build/tests/unit" ]; then
        for t in "$build"/tests/unit/*; do
            [ -f "$t" ] && [ -x "$t" ] || continue
            name=$(basename "$t")
            log=$logdir/unit-$name.log
            logs+=("$log")
            launch unit "$name" "$log" 0 "$t"
        done
    fi

    guestdir=$build/guest
    if ! ls "$guestdir"/*.elf >/dev/null 2>&1; then
        guestdir=build/guest
    fi
    if ls "$guestdir"/*.elf >/dev/null 2>&1; then
        for g in "$guestdir"/*.elf; do
            name=$(basename "$g" .elf)
            [ "$name" = demo ] && continue  # `make demo` runs it; exit 0 but checks nothing
            log=$logdir/guest-$name.log
            logs+=("$log")
            # per-test nvmx options: a "nvmx-args: ..." line in the source
            extra=$(sed -n 's/.*nvmx-args: *\(.*\)$/\1/p' "tests/guest/$name.c" 2>/dev/null | head -1)
            # shellcheck disable=SC2086
            launch guest "$name" "$log" 1 "$build/nvmx" -nographic -no-reboot \
                -device isa-debug-exit,iobase=0xf4,iosize=0x4 $NVMX_GUEST_ARGS $extra -kernel "$g"
        done
    fi

    if [ -x "$build/nvmx" ] && [ -f "$guestdir/demo.elf" ]; then
        log=$logdir/cli.log
        logs+=("$log")
        launch cli cli "$log" 0 tests/cli-test.sh "$build/nvmx" "$guestdir"
        for part in snapshots nested live; do
            log=$logdir/migrate-$part.log
            logs+=("$log")
            launch migrate "$part" "$log" 0 tests/migrate-test.sh "$build/nvmx" "$guestdir" "$part"
        done
        # the platform's snapshots, one guest per program (time limit)
        for g in lapic pic_pit ioapic rtc smp hpet; do
            log=$logdir/migrate-platform-$g.log
            logs+=("$log")
            launch migrate "platform-$g" "$log" 0 tests/migrate-platform-test.sh "$build/nvmx" \
                "$guestdir" "$g"
        done
    fi

    if [ -d "$build/tests/diff" ]; then
        for t in "$build"/tests/diff/*; do
            [ -f "$t" ] && [ -x "$t" ] || continue
            name=$(basename "$t")
            log=$logdir/diff-$name.log
            logs+=("$log")
            launch diff "$name" "$log" 0 "$t"
        done
    fi
    wait

    pass=0 fail=0 skip=0
    for log in "${logs[@]}"; do
        read -r st expect kind name <"$log.status"
        p=$(grep -a -c '^PASS: ' "$log")
        f=$(grep -a -c '^FAIL: ' "$log")
        s=$(grep -a -c '^SKIP: ' "$log")
        pass=$((pass + p))
        skip=$((skip + s))
        fail=$((fail + f))
        if [ "$f" -gt 0 ]; then
            grep -a '^FAIL: ' "$log" | tr -d '\r' | sed "s|\$|  [$build $kind/$name]|"
        fi
        if [ "$st" != "$expect" ]; then
            why="exit status $st, expected $expect"
            [ "$st" = 124 ] || [ "$st" = 137 ] && why="timed out after ${TEST_TIMEOUT}s"
            echo "FAIL: $kind/$name ($why; log $log)"
            fail=$((fail + 1))
        fi
    done
    echo "== $build: $pass passed, $fail failed, $skip skipped"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    total_skip=$((total_skip + skip))
done

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
