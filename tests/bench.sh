#!/usr/bin/env bash
# Performance figures for nvmx: tests/bench.sh BUILD
# Runs each workload of the bench guest (tests/guest/bench.c) under
# BUILD/nvmx with a large iteration count, reports wall time and an
# approximate MIPS figure (the guest reports its retired-instruction
# estimate), then times the whole guest test suite. With BENCH_QEMU=1 the
# workloads are also run under qemu-system-x86_64 (TCG) for reference.
# Environment: BENCH_SCALE multiplies the iteration counts (default 1).
set -u
build=${1:-build}
build=${build%/}
nvmx=$build/nvmx
guestdir=$build/guest
[ -f "$guestdir/bench.elf" ] || guestdir=build/guest
elf=$guestdir/bench.elf
scale=${BENCH_SCALE:-1}
if [ ! -x "$nvmx" ] || [ ! -f "$elf" ]; then
    echo "bench: need $nvmx and $elf (make all guests)" >&2
    exit 1
fi

now() { date +%s.%N; }

# name:iterations (scaled)
workloads="alu:20000000 mem:10000000 string:20000 call:10000000 exception:50000 ring3:50000 pagewalk:2000"

run_one() { # runner-name command...
    local label=$1
    shift
    for w in $workloads; do
        name=${w%%:*}
        iters=$(( ${w#*:} * scale ))
        t0=$(now)
        out=$(timeout 600 "$@" -kernel "$elf" -append "workload=$name iters=$iters" </dev/null 2>&1)
        st=$?
        t1=$(now)
        line=$(printf '%s\n' "$out" | tr -d '\r' | grep -a "^BENCH: $name ")
        insns=$(printf '%s\n' "$line" | sed -n 's/.*insns=\([0-9]*\).*/\1/p')
        awk -v l="$label" -v n="$name" -v t0="$t0" -v t1="$t1" -v ins="${insns:-0}" -v st="$st" \
            'BEGIN { s = t1 - t0; m = (s > 0 && ins > 0) ? ins / s / 1e6 : 0;
                     printf "%-5s %-10s %8.3f s  %9.1f MIPS%s\n", l, n, s, m,
                            (st == 1 ? "" : "  (exit status " st ")") }'
    done
}

run_one nvmx "$nvmx" -nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x4
if [ "${BENCH_QEMU:-0}" = 1 ] && command -v qemu-system-x86_64 >/dev/null; then
    run_one qemu qemu-system-x86_64 -cpu max,vendor=GenuineIntel -m 512 -nographic -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x4
fi

# The whole guest suite, sequentially.
t0=$(now)
n=0
for g in "$guestdir"/*.elf; do
    timeout 300 "$nvmx" -nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
        -kernel "$g" </dev/null >/dev/null 2>&1
    n=$((n + 1))
done
t1=$(now)
awk -v t0="$t0" -v t1="$t1" -v n="$n" 'BEGIN { printf "guest suite: %d kernels in %.2f s\n", n, t1 - t0 }'
