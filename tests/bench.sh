#!/usr/bin/env bash
# Performance figures for nvmx: tests/bench.sh BUILD
# Runs each workload of the bench guest (tests/guest/bench.c) under
# BUILD/nvmx and prints the exact retired-instruction count (from -stats),
# the wall time and guest MIPS. Figures only: nothing here is asserted.
# BENCH_SCALE multiplies the iteration counts; BENCH_QEMU=1 also times QEMU
# TCG on the same workloads for reference (QEMU's instruction count is taken
# from nvmx's run of the same workload).
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
args=(-nographic -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel "$elf")

# name:iterations (scaled). The first four are the CPU-bound workloads of
# the MIPS target; the others measure exceptions, rings, page walks.
workloads="sieve:40 crc:20 sort:8 fixed:40 cpuid:1000000 alu:20000000 mem:10000000 string:20000 call:10000000 exception:50000 ring3:50000 pagewalk:2000"

printf '%-10s %14s %9s %9s\n' workload instructions seconds MIPS
tot_i=0
tot_s=0
for w in $workloads; do
    name=${w%%:*}
    iters=$(( ${w#*:} * scale ))
    t0=$(now)
    out=$(timeout 900 "$nvmx" "${args[@]}" -stats -append "workload=$name iters=$iters" </dev/null 2>&1)
    st=$?
    t1=$(now)
    insns=$(printf '%s\n' "$out" | sed -n 's/^nvmx stats: \([0-9]*\) instructions retired.*/\1/p')
    awk -v n="$name" -v t0="$t0" -v t1="$t1" -v ins="${insns:-0}" -v st="$st" \
        'BEGIN { s = t1 - t0; m = (s > 0) ? ins / s / 1e6 : 0;
                 printf "%-10s %14d %9.3f %9.1f%s\n", n, ins, s, m,
                        (st == 1 ? "" : "  (exit status " st ")") }'
    if [ "$name" = cpuid ]; then
        exits=$(printf '%s\n' "$out" | awk '$2 == "CPUID" { print $3 }')
        awk -v t0="$t0" -v t1="$t1" -v n="${exits:-0}" -v ins="${insns:-0}" \
            'BEGIN { s = t1 - t0; if (n > 0) printf "  CPUID exit round trip: %d exits, %.0f exits/s, %.0f ns each (incl. %.1f guest instructions per exit)\n", n, n / s, s / n * 1e9, ins / n }'
    fi
    case $name in sieve|crc|sort|fixed)
        tot_i=$((tot_i + ${insns:-0}))
        tot_s=$(awk -v a="$tot_s" -v t0="$t0" -v t1="$t1" 'BEGIN { print a + t1 - t0 }') ;;
    esac
    if [ "${BENCH_QEMU:-0}" = 1 ] && command -v qemu-system-x86_64 >/dev/null; then
        t0=$(now)
        timeout 900 qemu-system-x86_64 -cpu max,vendor=GenuineIntel -m 128 -nographic -no-reboot \
            -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel "$elf" \
            -append "workload=$name iters=$iters" </dev/null >/dev/null 2>&1
        t1=$(now)
        awk -v n="$name" -v t0="$t0" -v t1="$t1" -v ins="${insns:-0}" \
            'BEGIN { s = t1 - t0; printf "  qemu-tcg %-10s %9.3f s %9.1f MIPS (same instruction count)\n", n, s, ins / s / 1e6 }'
    fi
done
awk -v i="$tot_i" -v s="$tot_s" 'BEGIN { printf "CPU-bound workloads (sieve, crc, sort, fixed): %d instructions in %.2f s = %.1f MIPS\n", i, s, i / s / 1e6 }'

# Nested VMX: the same workloads in an L2 guest under a minimal L1
# hypervisor (bench.c with l2=1). A reflected L2 CPUID exit costs the L2
# exit, L0's reflection, L1's handler (its VMREAD/VMWRITE/CPUID/VMRESUME
# exit to L0 each) and the nested VM entry.
run_wall() { # name iters extra-append -> prints "seconds instructions"
    local t0 t1 out
    t0=$(now)
    out=$(timeout 900 "$nvmx" "${args[@]}" -stats -append "workload=$1 iters=$2 $3" </dev/null 2>&1)
    t1=$(now)
    awk -v t0="$t0" -v t1="$t1" -v ins="$(printf '%s\n' "$out" | sed -n 's/^nvmx stats: \([0-9]*\) instructions retired.*/\1/p')" \
        'BEGIN { printf "%.6f %d\n", t1 - t0, ins }'
}
n=$((200000 * scale))
read -r s1 _ <<<"$(run_wall cpuid "$n" "")"
read -r s2 _ <<<"$(run_wall cpuid "$n" l2=1)"
awk -v n="$n" -v a="$s1" -v b="$s2" 'BEGIN {
    printf "nested: single-level CPUID exit round trip %.0f ns; reflected L2 CPUID (L2 -> L0 -> L1 -> L0 -> L2) %.0f ns = %.1fx\n",
           a / n * 1e9, b / n * 1e9, b / a }'
for w in sieve:40 crc:20 sort:8 fixed:40; do
    name=${w%%:*}
    iters=$(( ${w#*:} * scale ))
    read -r a ia <<<"$(run_wall "$name" "$iters" "")"
    read -r b ib <<<"$(run_wall "$name" "$iters" l2=1)"
    awk -v n="$name" -v a="$a" -v b="$b" -v ia="$ia" -v ib="$ib" 'BEGIN {
        printf "nested: %-6s L1 %.3f s (%.1f MIPS), L2 %.3f s (%.1f MIPS): L2/L1 slowdown %.2fx\n",
               n, a, ia / a / 1e6, b, ib / b / 1e6, b / a }'
done

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
