#!/usr/bin/env bash
# Boots a Linux bzImage (Debian's kernel: tools/get-linux-kernel.sh) on
# nvmx with 2 vCPUs to a tiny init that prints a line on COM1 and exits
# through isa-debug-exit, twice, and compares the two runs byte for byte:
#   tests/linux-boot.sh NVMX [KERNEL]
# KERNEL defaults to $NVMX_LINUX_KERNEL, then build/linux/vmlinuz; without
# one the checks print SKIP. Each boot takes one to two minutes, so this is
# `make linux-check`, not part of `make check`.
set -u
nvmx=$1
kernel=${2:-${NVMX_LINUX_KERNEL:-build/linux/vmlinuz}}
names=(boots_to_user_space both_cpus_up apic_timer_and_ioapic deterministic_reboot)
if [ ! -f "$kernel" ]; then
    for n in "${names[@]}"; do
        echo "SKIP: linux/$n (no kernel: run tools/get-linux-kernel.sh or set NVMX_LINUX_KERNEL)"
    done
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# /init: iopl(3), the message straight to the UART, then port 0xf4
cat >"$tmp/init.S" <<'ASM'
.globl _start
_start:
    mov $172, %eax
    mov $3, %edi
    syscall
    lea msg(%rip), %rsi
1:  movb (%rsi), %al
    test %al, %al
    jz 2f
    mov $0x3f8, %dx
    outb %al, %dx
    inc %rsi
    jmp 1b
2:  xor %eax, %eax
    mov $0xf4, %dx
    outb %al, %dx
3:  jmp 3b
msg: .asciz "nvmx-linux-init: hello from user space\n"
ASM
gcc -nostdlib -static -o "$tmp/init" "$tmp/init.S" || exit 1

# an initramfs (newc cpio): /dev, /dev/console, /init
# shellcheck source=tests/linux/cpio.sh
. tests/linux/cpio.sh
{
    cpio_entry dev $((040755)) 0 0 1
    cpio_entry dev/console $((020600)) 5 1 2
    cpio_entry init $((0100755)) 0 0 3 "$tmp/init"
    cpio_entry TRAILER!!! 0 0 0 0
} >"$tmp/initrd"

run() {
    timeout -k 5 900 "$nvmx" -nographic -no-reboot -m 512 -smp 2 -stats \
        -device isa-debug-exit,iobase=0xf4,iosize=0x4 -kernel "$kernel" -initrd "$tmp/initrd" \
        -append "console=ttyS0 loglevel=7" </dev/null >"$1" 2>&1
    echo "status $?" >>"$1"
}
run "$tmp/r1"
if grep -q "hello from user space" "$tmp/r1" && grep -q "^status 1$" "$tmp/r1"; then
    echo "PASS: linux/boots_to_user_space"
else
    echo "FAIL: linux/boots_to_user_space ($(tail -c 400 "$tmp/r1" | tr '\n' ' '))"
fi
if grep -q "Brought up 1 node, 2 CPUs" "$tmp/r1"; then
    echo "PASS: linux/both_cpus_up"
else
    echo "FAIL: linux/both_cpus_up"
fi
if grep -q "TIMER: vector=0x30 apic1=0 pin1=2" "$tmp/r1" && ! grep -q "APIC timer disabled\|IO-APIC + timer doesn't work" "$tmp/r1"; then
    echo "PASS: linux/apic_timer_and_ioapic"
else
    echo "FAIL: linux/apic_timer_and_ioapic"
fi
run "$tmp/r2"
if cmp -s "$tmp/r1" "$tmp/r2"; then
    echo "PASS: linux/deterministic_reboot"
else
    echo "FAIL: linux/deterministic_reboot ($(diff "$tmp/r1" "$tmp/r2" | head -c 300 | tr '\n' ' '))"
fi
exit 0
