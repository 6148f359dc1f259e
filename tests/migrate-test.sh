#!/usr/bin/env bash
# Snapshot, restore and migration checks, end to end:
#   tests/migrate-test.sh NVMX GUESTDIR
# Determinism is the oracle (BRIEF decision 6): a run snapshotted at some
# instant and resumed from the image must give the same serial output, the
# same exit status and the same final instruction count as a run that was
# never interrupted. Also: corrupt or mismatched images are refused with a
# clear message and status 2. Prints one PASS:/FAIL: line per check.
set -u
nvmx=$1
guestdir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dbg=(-device isa-debug-exit,iobase=0xf4,iosize=0x4)

pass() { echo "PASS: migrate/$1"; }
failm() { echo "FAIL: migrate/$1 ($2)"; }

guest_args() { sed -n 's/.*nvmx-args: *\(.*\)$/\1/p' "tests/guest/$1.c" 2>/dev/null | head -1; }
icount() { sed -n 's/^nvmx stats: \([0-9]*\) instructions retired.*/\1/p' "$1"; }
# stats FILE: the -stats block (retired instructions, VM exits per reason)
stats() { sed -n '/^nvmx stats: [0-9]* instructions retired/,$p' "$1"; }

# full GUEST: the uninterrupted reference run.
full() {
    local g=$1
    # shellcheck disable=SC2046
    "$nvmx" -nographic "${dbg[@]}" -stats $(guest_args "$g") -kernel "$guestdir/$g.elf" \
        </dev/null >"$tmp/$g.full" 2>"$tmp/$g.full.err"
    echo $? >"$tmp/$g.full.st"
}

# at GUEST N: snapshot at exactly N instructions (the source stops there),
# resume from the image; prefix + rest must equal the reference.
at() {
    local g=$1 n=$2 name="at_${1}_$2"
    local img=$tmp/$g.$n.img
    # shellcheck disable=SC2046
    "$nvmx" -nographic "${dbg[@]}" -stats $(guest_args "$g") -kernel "$guestdir/$g.elf" \
        -savevm-at "$n,$img" -max-insns "$n" </dev/null >"$tmp/pre" 2>"$tmp/pre.err"
    local st=$?
    if [ "$st" != 10 ] || [ "$(icount "$tmp/pre.err")" != "$n" ]; then
        failm "$name" "source status $st, $(icount "$tmp/pre.err") instructions: $(head -c 300 "$tmp/pre.err")"
        return
    fi
    # shellcheck disable=SC2046
    "$nvmx" -nographic "${dbg[@]}" -stats $(guest_args "$g") -loadvm "$img" \
        </dev/null >"$tmp/post" 2>"$tmp/post.err"
    st=$?
    rm -f "$img"
    if [ "$st" != "$(cat "$tmp/$g.full.st")" ]; then
        failm "$name" "restored run status $st: $(head -c 300 "$tmp/post.err")"
    elif ! cat "$tmp/pre" "$tmp/post" | cmp -s - "$tmp/$g.full"; then
        failm "$name" "serial output differs from the uninterrupted run"
    elif [ "$(icount "$tmp/post.err")" != "$(icount "$tmp/$g.full.err")" ]; then
        failm "$name" "instruction count $(icount "$tmp/post.err") != $(icount "$tmp/$g.full.err")"
    elif [ "$(stats "$tmp/post.err")" != "$(stats "$tmp/$g.full.err")" ]; then
        failm "$name" "VM exit counts differ from the uninterrupted run"
    else
        pass "$name"
    fi
}

# when GUEST SPEC: a snapshot at the K-th VM exit (exit:K) or after the K-th
# exit that leaves an event queued for injection (event:K). The source runs
# on: its output must equal the reference (saving perturbs nothing); the
# resumed run's output must be the reference's tail, with the same count.
when() {
    local g=$1 spec=$2 name="when_${1}_${2/:/}"
    local img=$tmp/$g.w.img
    # shellcheck disable=SC2046
    "$nvmx" -nographic "${dbg[@]}" -stats $(guest_args "$g") -kernel "$guestdir/$g.elf" \
        -savevm-at "$spec,$img" </dev/null >"$tmp/src" 2>"$tmp/src.err"
    local st=$?
    if [ "$st" != "$(cat "$tmp/$g.full.st")" ] || ! cmp -s "$tmp/src" "$tmp/$g.full" ||
        [ "$(stats "$tmp/src.err")" != "$(stats "$tmp/$g.full.err")" ] ||
        ! grep -q "snapshot at instruction" "$tmp/src.err"; then
        failm "$name" "source run differs or took no snapshot (status $st): $(head -c 300 "$tmp/src.err")"
        return
    fi
    # shellcheck disable=SC2046
    "$nvmx" -nographic "${dbg[@]}" -stats $(guest_args "$g") -loadvm "$img" \
        </dev/null >"$tmp/post" 2>"$tmp/post.err"
    st=$?
    local n
    n=$(stat -c %s "$tmp/post")
    if [ "$st" != "$(cat "$tmp/$g.full.st")" ]; then
        failm "$name" "restored run status $st: $(head -c 300 "$tmp/post.err")"
    elif ! tail -c "$n" "$tmp/$g.full" | cmp -s - "$tmp/post"; then
        failm "$name" "restored output is not the tail of the uninterrupted run"
    elif [ "$(icount "$tmp/post.err")" != "$(icount "$tmp/$g.full.err")" ]; then
        failm "$name" "instruction count $(icount "$tmp/post.err") != $(icount "$tmp/$g.full.err")"
    elif [ "$(stats "$tmp/post.err")" != "$(stats "$tmp/$g.full.err")" ]; then
        failm "$name" "VM exit counts differ from the uninterrupted run"
    else
        pass "$name"
    fi
}

# Many instants in several guests: the first instructions, slice
# boundaries (quantum 100000) and their neighbours, odd instants inside
# string instructions (string.elf runs REP MOVS/STOS/CMPS), exception and
# paging tests, x87/SSE state, and the L0 test mode.
for g in string exceptions paging x87 sse modes segment syscall novmx vmxctl misc; do
    [ -f "$guestdir/$g.elf" ] || continue
    full "$g"
    total=$(icount "$tmp/$g.full.err")
    for n in 1 2 3 17 1000 4095 31337 65536 99999 100000 100001 123457 200000 254321 350001; do
        [ "$n" -lt "$total" ] && at "$g" "$n"
    done
    [ "$total" -gt 2 ] && at "$g" $((total / 2 + 1)) && at "$g" $((total - 1))
done
# novmx and sysregs make L0 queue exceptions (#UD for VMX instructions, #GP
# for unknown MSRs): snapshots with a pending event in the event queue
for spec in novmx:1 novmx:3 novmx:7 sysregs:1; do
    g=${spec%%:*}
    [ -f "$guestdir/$g.elf" ] || continue
    [ -f "$tmp/$g.full" ] || full "$g"
    when "$g" "event:${spec#*:}"
done
for g in exceptions vmxctl; do
    for k in 1 10 50; do
        when "$g" "exit:$k"
    done
done

# ---- corrupt, truncated and mismatched images ----
g=string
img=$tmp/good.img
"$nvmx" -nographic "${dbg[@]}" -kernel "$guestdir/$g.elf" -savevm-at "12345,$img" -max-insns 12345 \
    </dev/null >/dev/null 2>&1
refused() { # name expected-message-regex image [extra options]
    local name=$1 re=$2 file=$3
    shift 3
    "$nvmx" -nographic "${dbg[@]}" -stats "$@" -loadvm "$file" </dev/null >"$tmp/bad.out" 2>"$tmp/bad.err"
    local st=$?
    if [ "$st" != 2 ]; then
        failm "refuse_$name" "status $st, expected 2"
    elif ! grep -Eq "$re" "$tmp/bad.err"; then
        failm "refuse_$name" "message: $(head -c 300 "$tmp/bad.err")"
    elif [ -s "$tmp/bad.out" ] || grep -q "instructions retired" "$tmp/bad.err"; then
        failm "refuse_$name" "the machine ran"
    else
        pass "refuse_$name"
    fi
}
size=$(stat -c %s "$img")
for cut in 0 5 16 20 40 1000 $((size / 2)) $((size - 9)) $((size - 1)); do
    head -c "$cut" "$img" >"$tmp/cut.img"
    refused "truncated_$cut" "truncated" "$tmp/cut.img"
done
# flip_byte OFFSET FILE: inverts one byte in place
flip_byte() {
    local b
    b=$(od -An -tu1 -j "$1" -N1 "$2" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 0xff)))" | dd of="$2" bs=1 seek="$1" conv=notrunc status=none
}
for off in 100 5000 $((size / 3)) $((size / 2)) $((size - 20)) $((size - 3)); do
    cp "$img" "$tmp/flip.img"
    flip_byte "$off" "$tmp/flip.img"
    refused "flipped_$off" "checksum|corrupt|section|RAM|VMCS|bad|reserved|unknown|truncated" "$tmp/flip.img"
done
cp "$img" "$tmp/ver.img"
printf '\x02' | dd of="$tmp/ver.img" bs=1 seek=8 conv=notrunc status=none
refused wrong_version "version 2, this nvmx reads version 1" "$tmp/ver.img"
cp "$img" "$tmp/magic.img"
printf 'X' | dd of="$tmp/magic.img" bs=1 seek=0 conv=notrunc status=none
refused bad_magic "bad magic" "$tmp/magic.img"
# a section tag nvmx does not know (before the checksum is reached)
off=$(grep -abo "MACH" "$img" | head -1 | cut -d: -f1)
cp "$img" "$tmp/tag.img"
printf 'ZZZZ' | dd of="$tmp/tag.img" bs=1 seek="$off" conv=notrunc status=none
refused unknown_section "section 'ZZZZ': unknown section" "$tmp/tag.img"
cp "$img" "$tmp/first.img"
printf 'ZZZZ' | dd of="$tmp/first.img" bs=1 seek=16 conv=notrunc status=none
refused conf_not_first "first section is not CONF" "$tmp/first.img"
refused wrong_ram_size "use the same -m" "$img" -m 256M
refused wrong_smp "use the same -smp" "$img" -smp 2
refused wrong_device "isa-debug-exit" "$img" -device isa-debug-exit,iobase=0x501,iosize=0x2
refused not_an_image "bad magic" "$guestdir/$g.elf"
"$nvmx" -nographic -loadvm "$tmp/does-not-exist" </dev/null >/dev/null 2>"$tmp/bad.err"
st=$?
if [ "$st" = 2 ] && grep -q "cannot open" "$tmp/bad.err"; then pass refuse_missing_file; else failm refuse_missing_file "status $st"; fi
exit 0
