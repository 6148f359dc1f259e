#!/usr/bin/env bash
# End-to-end checks of the nvmx command line and exit statuses:
#   tests/cli-test.sh NVMX GUESTDIR
# Prints one PASS:/FAIL: line per check (tallied by tests/run-tests.sh).
set -u
nvmx=$1
guestdir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dbg=(-device isa-debug-exit,iobase=0xf4,iosize=0x4)

expect_status() { # name expected-status command...
    local name=$1 want=$2
    shift 2
    "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    local st=$?
    if [ "$st" = "$want" ]; then
        echo "PASS: cli/$name"
    else
        echo "FAIL: cli/$name (exit status $st, expected $want: $(head -c 300 "$tmp/err"))"
    fi
}

expect_status unknown_option 2 "$nvmx" -kernel "$guestdir/demo.elf" -frobnicate
expect_status missing_kernel 2 "$nvmx" -nographic
expect_status unreadable_kernel 2 "$nvmx" -kernel "$tmp/does-not-exist"
head -c 5000 /dev/urandom >"$tmp/garbage"
expect_status garbage_kernel 2 "$nvmx" -kernel "$tmp/garbage"
head -c 3000 "$guestdir/demo.elf" >"$tmp/truncated.elf"
expect_status truncated_kernel 2 "$nvmx" -kernel "$tmp/truncated.elf"
expect_status help 0 "$nvmx" -h
expect_status demo_exits_through_debug_port 1 "$nvmx" -nographic "${dbg[@]}" -kernel "$guestdir/demo.elf"
expect_status triple_fault 4 "$nvmx" -nographic -no-reboot "${dbg[@]}" -kernel "$guestdir/demo.elf" -append triple-fault
expect_status rtc_bad_clock 2 "$nvmx" -kernel "$guestdir/demo.elf" -rtc clock=sundial
expect_status rtc_bad_base 2 "$nvmx" -kernel "$guestdir/demo.elf" -rtc base=2026-13-01
expect_status rtc_clock_host_realtime_option 1 "$nvmx" -nographic -no-reboot "${dbg[@]}" -rtc base=utc,clock=host -kernel "$guestdir/pic_pit.elf"
expect_status rtc_base_date 1 "$nvmx" -nographic "${dbg[@]}" -rtc base=2030-01-02,clock=vm -kernel "$guestdir/demo.elf"
expect_status nested_vmx_abort 4 "$nvmx" -nographic "${dbg[@]}" -kernel "$guestdir/nested_hostile.elf" -append vmx-abort
if grep -q "VMX abort, indicator 1" "$tmp/err"; then
    echo "PASS: cli/nested_vmx_abort_message"
else
    echo "FAIL: cli/nested_vmx_abort_message ($(head -c 300 "$tmp/err"))"
fi
expect_status nested_smp_64 1 "$nvmx" -nographic "${dbg[@]}" -smp 64 -kernel "$guestdir/nested_basic.elf"
expect_status smp_64_firmware_tables_fit 1 "$nvmx" -nographic "${dbg[@]}" -smp 64 -kernel "$guestdir/demo.elf"
expect_status halted_cli_hlt 6 "$nvmx" -nographic "${dbg[@]}" -kernel "$guestdir/demo.elf" -append cli-hlt
expect_status halted_no_timer 6 "$nvmx" -nographic "${dbg[@]}" -kernel "$guestdir/demo.elf" -append sti-hlt
# A Linux bzImage: the setup header is checked (protocol 2.10+, fits RAM)
head -c 4096 /dev/zero >"$tmp/bz"
printf 'HdrS\x00\x02' | dd of="$tmp/bz" bs=1 seek=514 conv=notrunc 2>/dev/null
expect_status bzimage_old_protocol 2 "$nvmx" -kernel "$tmp/bz"
printf '\x0c\x02' | dd of="$tmp/bz" bs=1 seek=518 conv=notrunc 2>/dev/null
printf '\x01' | dd of="$tmp/bz" bs=1 seek=529 conv=notrunc 2>/dev/null
printf '\x00\x00\x00\x40' | dd of="$tmp/bz" bs=1 seek=608 conv=notrunc 2>/dev/null
expect_status bzimage_too_big_for_ram 2 "$nvmx" -kernel "$tmp/bz"
expect_status no_hpet_option 1 "$nvmx" -nographic "${dbg[@]}" -no-hpet -no-acpi -kernel "$guestdir/demo.elf"
expect_status insn_limit 10 "$nvmx" -nographic "${dbg[@]}" -max-insns 1000 -kernel "$guestdir/demo.elf"

# -serial file:PATH receives the guest's output; -serial none discards it.
expect_status serial_file 1 "$nvmx" -serial "file:$tmp/serial.txt" "${dbg[@]}" -kernel "$guestdir/demo.elf"
if grep -q "Hello from the nvmx demo guest" "$tmp/serial.txt" 2>/dev/null; then
    echo "PASS: cli/serial_file_content"
else
    echo "FAIL: cli/serial_file_content"
fi
"$nvmx" -serial none "${dbg[@]}" -kernel "$guestdir/demo.elf" </dev/null >"$tmp/none.txt" 2>&1
if [ ! -s "$tmp/none.txt" ]; then echo "PASS: cli/serial_none"; else echo "FAIL: cli/serial_none"; fi

# -append reaches the guest's multiboot command line.
"$nvmx" -nographic "${dbg[@]}" -kernel "$guestdir/demo.elf" -append "marker-1234" </dev/null >"$tmp/append.txt" 2>&1
if grep -q "marker-1234" "$tmp/append.txt"; then echo "PASS: cli/append"; else echo "FAIL: cli/append"; fi

# -stats prints the retired instructions and exits per reason.
"$nvmx" -nographic "${dbg[@]}" -stats -kernel "$guestdir/demo.elf" </dev/null >"$tmp/stats.txt" 2>&1
if grep -q "instructions retired" "$tmp/stats.txt" && grep -q "IO_INSTRUCTION" "$tmp/stats.txt"; then
    echo "PASS: cli/stats"
else
    echo "FAIL: cli/stats"
fi

# Determinism: two runs give identical output and instruction counts.
"$nvmx" -nographic "${dbg[@]}" -stats -kernel "$guestdir/alu.elf" </dev/null >"$tmp/r1" 2>&1
"$nvmx" -nographic "${dbg[@]}" -stats -kernel "$guestdir/alu.elf" </dev/null >"$tmp/r2" 2>&1
if cmp -s "$tmp/r1" "$tmp/r2"; then echo "PASS: cli/deterministic_rerun"; else echo "FAIL: cli/deterministic_rerun"; fi

# Determinism with several vCPUs, timers and IPIs (tests/guest/smp.c prints
# the TSC at each event): byte-identical output, instruction and exit counts.
smp=(-nographic "${dbg[@]}" -smp 3 -stats -kernel "$guestdir/smp.elf")
"$nvmx" "${smp[@]}" </dev/null >"$tmp/s1" 2>&1
"$nvmx" "${smp[@]}" </dev/null >"$tmp/s2" 2>&1
if grep -q "bsp timer x4 done at" "$tmp/s1" && grep -q "instructions retired" "$tmp/s1" &&
    grep -q "smp: .* 0 failed" "$tmp/s1" && cmp -s "$tmp/s1" "$tmp/s2"; then
    echo "PASS: cli/deterministic_smp_timers_ipis"
else
    echo "FAIL: cli/deterministic_smp_timers_ipis ($(diff "$tmp/s1" "$tmp/s2" | head -c 300))"
fi
exit 0
