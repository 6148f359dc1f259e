#!/usr/bin/env bash
# Snapshots of the PC platform (the PLAT and LAPC sections), end to end:
#   tests/migrate-platform-test.sh NVMX GUESTDIR GUEST
# GUEST is a guest test whose behaviour depends on the platform: the
# virtual clock, the 8259s and the PIT (pic_pit), the I/O APIC (ioapic),
# the local APICs with their timers in every mode (lapic), IPIs and
# INIT/SIPI between 3 vCPUs (smp), the RTC (rtc), the HPET (hpet). It is
# snapshotted at
# several instants (-savevm-at N, the source stops there, and exit:K, the
# source runs on) and resumed with -loadvm; as in tests/migrate-test.sh,
# determinism is the oracle: the resumed run's serial output, exit status,
# instruction count and -stats block (VM exits per reason) must equal the
# uninterrupted run's. A restored platform that lost a timer, a pending or
# in-service interrupt, a halted vCPU or the clock changes what the guest
# prints (it reports what it measures) or the exit counts, or never ends
# (a guest waiting for an interrupt that was lost): restored runs are
# killed after 100 s and fail. One run per guest (run-tests.sh launches
# them separately) so that each fits the per-program time limit in the
# sanitizer build, where pic_pit takes ~17 s per run: it gets fewer instants.
# One instant is also loaded with -incoming file: (the migration loader).
# Prints one PASS:/FAIL: line per check.
set -u
nvmx=$1
guestdir=$2
g=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dbg=(-device isa-debug-exit,iobase=0xf4,iosize=0x4)

pass() { echo "PASS: migrate-platform/$1"; }
failm() { echo "FAIL: migrate-platform/$1 ($2)"; }

if [ ! -f "$guestdir/$g.elf" ]; then
    echo "SKIP: migrate-platform/$g (no $guestdir/$g.elf)"
    exit 0
fi
args=$(sed -n 's/.*nvmx-args: *\(.*\)$/\1/p' "tests/guest/$g.c" 2>/dev/null | head -1)
icount() { sed -n 's/^nvmx stats: \([0-9]*\) instructions retired.*/\1/p' "$1"; }
stats() { sed -n '/^nvmx stats: [0-9]* instructions retired/,$p' "$1"; }
# run OUT ARGS...: nvmx with the guest's options; status in $st
run() {
    local out=$1
    shift
    # shellcheck disable=SC2086
    timeout -k 5 100 "$nvmx" -nographic "${dbg[@]}" -stats $args "$@" </dev/null >"$out" 2>"$out.err"
    st=$?
}

run "$tmp/full" -kernel "$guestdir/$g.elf"
fst=$st
total=$(icount "$tmp/full.err")
if [ "$fst" != 1 ] || [ -z "$total" ]; then
    failm "${g}_reference" "the uninterrupted run failed (status $fst): $(head -c 300 "$tmp/full.err")"
    exit 0
fi

# check NAME PREFIX-FILE: the restored run ($tmp/post) against the reference
check() {
    if [ "$st" != "$fst" ]; then
        failm "$1" "restored run status $st: $(head -c 300 "$tmp/post.err")"
    elif ! cat "$2" "$tmp/post" | cmp -s - "$tmp/full"; then
        failm "$1" "serial output differs from the uninterrupted run"
    elif [ "$(icount "$tmp/post.err")" != "$total" ]; then
        failm "$1" "instruction count $(icount "$tmp/post.err") != $total"
    elif [ "$(stats "$tmp/post.err")" != "$(stats "$tmp/full.err")" ]; then
        failm "$1" "VM exit counts differ from the uninterrupted run"
    else
        pass "$1"
    fi
}

# at N: the source stops at exactly N instructions; its output and the
# restored run's make the reference's
at() {
    local n=$1 name="at_${g}_$1"
    run "$tmp/pre" -kernel "$guestdir/$g.elf" -savevm-at "$n,$tmp/img" -max-insns "$n"
    if [ "$st" != 10 ] || [ "$(icount "$tmp/pre.err")" != "$n" ]; then
        failm "$name" "source status $st, $(icount "$tmp/pre.err") instructions: $(head -c 300 "$tmp/pre.err")"
        return
    fi
    run "$tmp/post" -loadvm "$tmp/img"
    check "$name" "$tmp/pre"
}

# when exit:K: saved at the K-th VM exit while the source runs on (saving
# perturbs nothing); the restored run prints the rest of the output
when() {
    local k=$1 name="when_${g}_exit$1"
    run "$tmp/src" -kernel "$guestdir/$g.elf" -savevm-at "exit:$k,$tmp/img"
    if [ "$st" != "$fst" ] || ! cmp -s "$tmp/src" "$tmp/full" ||
        [ "$(stats "$tmp/src.err")" != "$(stats "$tmp/full.err")" ] ||
        ! grep -q "snapshot at instruction" "$tmp/src.err"; then
        failm "$name" "source run differs or took no snapshot (status $st): $(head -c 300 "$tmp/src.err")"
        return
    fi
    run "$tmp/post" -loadvm "$tmp/img"
    local n
    n=$(stat -c %s "$tmp/post")
    head -c $(($(stat -c %s "$tmp/full") - n)) "$tmp/full" >"$tmp/head"
    check "$name" "$tmp/head"
}

# Instants: inside the first slices (quantum 100000) and spread over the
# run (timers armed, interrupts pending or in service, vCPUs halted at
# different moments of each guest).
case $g in
pic_pit) instants="$((total / 3)) $((total * 2 / 3 + 1))" exits="" ;;
*)
    instants="4095 99999 100001 254321 $((total / 3)) $((total / 2 + 1)) $((total * 4 / 5)) $((total - 1))"
    exits="20 200"
    ;;
esac
for n in $instants; do
    [ "$n" -lt "$total" ] && at "$n"
done
for k in $exits; do
    when "$k"
done

# the same image through -incoming file: (the migration path's loader)
n=$((total / 2 + 1))
run "$tmp/pre" -kernel "$guestdir/$g.elf" -savevm-at "$n,$tmp/img" -max-insns "$n"
if [ "$st" = 10 ]; then
    run "$tmp/post" -incoming "file:$tmp/img"
    check "incoming_${g}_$n" "$tmp/pre"
else
    failm "incoming_${g}_$n" "source status $st: $(head -c 300 "$tmp/pre.err")"
fi
exit 0
