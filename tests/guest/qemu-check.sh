#!/usr/bin/env bash
# Validates guest kernels under QEMU TCG, the reference for the guest tests:
#   tests/guest/qemu-check.sh [GUEST.elf...]   (default: build/guest/*.elf)
# Prints each guest's FAIL lines and a PASS/FAIL/SKIP tally per guest; exits 1
# if any guest failed (QEMU status != 1 or a FAIL line). Logs: build/qemu-logs.
set -u
QEMU=${QEMU:-qemu-system-x86_64}
# nvmx models an Intel CPU (VMX); QEMU's "max" CPU reports AuthenticAMD under
# TCG, which changes vendor-specific behaviour (e.g. SYSENTER in long mode).
QEMU_CPU=${QEMU_CPU:-max,vendor=GenuineIntel}
logdir=build/qemu-logs
mkdir -p "$logdir"
[ $# -eq 0 ] && set -- build/guest/*.elf
bad=0
for g in "$@"; do
    name=$(basename "$g" .elf)
    log=$logdir/$name.log
    timeout 120 "$QEMU" -cpu "$QEMU_CPU" -m 512 -smp 1 -nographic -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel "$g" -append "qemu-check" \
        </dev/null >"$log" 2>&1
    st=$?
    tr -d '\r' <"$log" | sed 's/^.*\x1b\[[0-9;?]*[a-zA-Z]//' >"$log.txt"
    p=$(grep -a -c '^PASS: ' "$log.txt")
    f=$(grep -a -c '^FAIL: ' "$log.txt")
    s=$(grep -a -c '^SKIP: ' "$log.txt")
    grep -a '^FAIL: ' "$log.txt"
    ok=OK
    # A guest passes with status 1 (exit code 0), no FAIL line, and the
    # library's closing summary line (so a missing kernel is not a pass).
    if [ "$st" != 1 ] || [ "$f" -gt 0 ] || ! grep -a -q "^$name: .* passed" "$log.txt"; then
        ok=BAD
        bad=1
    fi
    printf '%-12s %s status=%s pass=%s fail=%s skip=%s\n' "$name" "$ok" "$st" "$p" "$f" "$s"
done
exit $bad
