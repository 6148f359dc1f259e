#!/usr/bin/env bash
# An unmodified hypervisor as L1: Debian's Linux boots on nvmx, loads
# kvm_intel and runs an L2 guest through /dev/kvm (tests/linux/kvm-init.c).
#   tests/linux-kvm.sh NVMX [KERNEL-DIR]
# KERNEL-DIR (default build/linux, see tools/get-linux-kernel.sh) holds
# vmlinuz and the modules irqbypass.ko, kvm.ko, kvm-intel.ko of the same
# kernel. Without them the check prints SKIP. One boot takes one to two
# minutes: this is part of `make linux-check`, not `make check`.
set -u
nvmx=$1
dir=${2:-${NVMX_LINUX_DIR:-build/linux}}
for f in vmlinuz irqbypass.ko kvm.ko kvm-intel.ko; do
    if [ ! -f "$dir/$f" ]; then
        echo "SKIP: linux/kvm_intel_runs_l2 (no $dir/$f: run tools/get-linux-kernel.sh)"
        exit 0
    fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! gcc -static -O2 -o "$tmp/init" tests/linux/kvm-init.c; then
    echo "SKIP: linux/kvm_intel_runs_l2 (cannot build a static init: libc6-dev static libraries?)"
    exit 0
fi
# shellcheck source=tests/linux/cpio.sh
. tests/linux/cpio.sh
{
    cpio_entry dev $((040755)) 0 0 1
    cpio_entry dev/console $((020600)) 5 1 2
    cpio_entry init $((0100755)) 0 0 3 "$tmp/init"
    cpio_entry irqbypass.ko $((0100644)) 0 0 4 "$dir/irqbypass.ko"
    cpio_entry kvm.ko $((0100644)) 0 0 5 "$dir/kvm.ko"
    cpio_entry kvm-intel.ko $((0100644)) 0 0 6 "$dir/kvm-intel.ko"
    cpio_entry TRAILER!!! 0 0 0 0
} >"$tmp/initrd"
timeout -k 5 1200 "$nvmx" -nographic -no-reboot -m 512 -stats \
    -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel "$dir/vmlinuz" -initrd "$tmp/initrd" \
    -append "console=ttyS0 loglevel=4" </dev/null >"$tmp/out" 2>&1
st=$?
# status 1 = the init wrote 0 to isa-debug-exit; the L2 exits must have
# been reflected to L1 (nested statistics)
if [ "$st" = 1 ] && grep -q "kvmtest: PASS" "$tmp/out" &&
    grep -Eq "^ +30 IO_INSTRUCTION +[0-9]+ / [1-9]" "$tmp/out"; then
    echo "PASS: linux/kvm_intel_runs_l2"
else
    echo "FAIL: linux/kvm_intel_runs_l2 (status $st: $(grep -a "kvmtest\|finit\|exit_reason\|fail" "$tmp/out" | tail -5 | tr '\n' ' '))"
fi
