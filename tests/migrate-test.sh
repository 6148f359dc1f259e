#!/usr/bin/env bash
# Snapshot, restore and migration checks, end to end:
#   tests/migrate-test.sh NVMX GUESTDIR [snapshots|nested|live]
# (all parts by default; tests/run-tests.sh runs them as three programs)
# Determinism is the oracle (BRIEF decision 6): a run snapshotted at some
# instant and resumed from the image must give the same serial output, the
# same exit status and the same final instruction count as a run that was
# never interrupted. Also: corrupt or mismatched images are refused with a
# clear message and status 2. Prints one PASS:/FAIL: line per check.
set -u
nvmx=$1
guestdir=$2
part=${3:-all}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dbg=(-device isa-debug-exit,iobase=0xf4,iosize=0x4)

pass() { echo "PASS: migrate/$1"; }
failm() { echo "FAIL: migrate/$1 ($2)"; }

# the guest's own nvmx options, plus $EXTRA
guest_args() {
    sed -n 's/.*nvmx-args: *\(.*\)$/\1/p' "tests/guest/$1.c" 2>/dev/null | head -1
    echo "${EXTRA:-}"
}
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
    local g=$1 n=$2 name="at_${1}_$2$(echo "${EXTRA:-}" | tr -d " -")"
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

snapshots() {
# Many instants in several guests: the first instructions, slice
# boundaries (quantum 100000) and their neighbours, odd instants inside
# string instructions (string.elf runs REP MOVS/STOS/CMPS), exception and
# paging tests, x87/SSE state, and the L0 test mode.
for g in string exceptions paging x87 sse modes segment syscall novmx vmxctl misc; do
    [ -f "$guestdir/$g.elf" ] || continue
    full "$g"
    total=$(icount "$tmp/$g.full.err")
    for n in 1 3 4095 31337 99999 100000 100001 254321; do
        [ "$n" -lt "$total" ] && at "$g" "$n"
    done
    [ "$total" -gt 2 ] && at "$g" $((total / 2 + 1)) && at "$g" $((total - 1))
done
# two vCPUs (the AP waits for SIPI): one image with two CPU/VMCS/EVTQ sections
export EXTRA="-smp 2"
if [ -f "$guestdir/paging.elf" ]; then
    full paging
    for n in 7 100000 150001; do at paging "$n"; done
fi
EXTRA=""

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
printf '\x63' | dd of="$tmp/ver.img" bs=1 seek=8 conv=notrunc status=none
refused wrong_version "version 99, this nvmx reads version [0-9]" "$tmp/ver.img"
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
}

nested() {
# Nested VMX (BRIEF decision 5): snapshots at instants spread over runs of
# L1 hypervisors, most of them while L2 runs (guest mode, vmcs02 rebuilt on
# restore), some during nested VM entries and exits, with injected events
# (nested_l2 injects every event type), L2 interrupts (nested_events), EPT02
# (nested_exits) and APIC virtualization (nested_apicv).
# (nested_ctls is left out: its PAUSE-loop-exiting check depends on when the
# last VM entry happened -- the first PAUSE after any VM entry starts a new
# loop, SDM 26.1.3 -- and restoring at an exact instant adds one entry)
for g in nested_long nested_basic nested_exits nested_l2 nested_apicv nested_events; do
    [ -f "$guestdir/$g.elf" ] || continue
    full "$g"
    total=$(icount "$tmp/$g.full.err")
    for k in 1 2 3 4 5 6 7 8 9 10 11 12; do
        at "$g" $((total * k / 13 + k))
    done
done
for g in nested_exits nested_l2; do
    for k in 3 20 77 150; do
        when "$g" "exit:$k"
    done
done
# During a nested VM entry: in nested_long the exits 210, 216 and 226 are
# L1's VMLAUNCH/VMRESUME, emulated but not yet entered (nested run pending,
# vmcs12's entry not yet in the hardware); 800 and 1000 are L2 I/O exits.
for k in 210 216 226 800 1000; do
    when nested_long "exit:$k"
done
}

live() {
# ---- QMP and live migration ----
qmpc=$(dirname "$nvmx")/tests/tools/qmpc
[ -x "$qmpc" ] || qmpc=build/tests/tools/qmpc
if [ ! -x "$qmpc" ] || [ ! -f "$guestdir/bench.elf" ]; then
    echo "SKIP: migrate/qmp (no tests/tools/qmpc or bench.elf)"
    return
fi
sock=$tmp/qmp.sock
mig=$tmp/mig.sock
# a guest that runs long enough (tens of millions of instructions) for a
# migration to happen while it runs, writing memory all the time
barg="workload=mem iters=3000000"
"$nvmx" -nographic "${dbg[@]}" -stats -kernel "$guestdir/bench.elf" -append "$barg" \
    </dev/null >"$tmp/b.full" 2>"$tmp/b.full.err"
bst=$?
# wait_pid PID: sets wst to its exit status (it is killed after 150 s)
wait_pid() {
    local i
    for i in $(seq 1500); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && kill -9 "$1"
    wait "$1"
    wst=$?
}

# QMP basics: greeting, negotiation, errors, id echo, stop/cont, info registers
"$nvmx" -serial none "${dbg[@]}" -kernel "$guestdir/bench.elf" -append "$barg" -S \
    -qmp "unix:$sock,server=on,wait=off" </dev/null >/dev/null 2>"$tmp/q.err" &
pid=$!
timeout 150 "$qmpc" "$sock" '{"execute": "query-status", "id": 42}' 'not json' \
    '{"execute": "frobnicate"}' '{"execute": "migrate"}' \
    '{"execute": "migrate", "arguments": {"uri": "ftp:x"}}' \
    '{"execute": "human-monitor-command", "arguments": {"command-line": "info registers"}}' \
    '{"execute": "cont"}' '{"execute": "query-status"}' '{"execute": "stop"}' \
    '{"execute": "query-status"}' '{"execute": "quit"}' >"$tmp/q.out" 2>&1
wait_pid "$pid"
st=$wst
qcheck() { # name line-number regex
    if sed -n "$2p" "$tmp/q.out" | grep -Eq "$3"; then pass "qmp_$1"; else failm "qmp_$1" "$(sed -n "$2p" "$tmp/q.out" | head -c 300)"; fi
}
qcheck status_paused_with_id 1 '"status": "paused".*"id": 42\}'
qcheck parse_error 2 '"class": "GenericError", "desc": "JSON parse error"'
qcheck unknown_command 3 '"CommandNotFound"'
qcheck missing_argument 4 "Parameter 'uri' is missing"
qcheck bad_uri 5 "unsupported migration URI 'ftp:x'"
qcheck info_registers_L1 6 'CPU#0 L1.*RIP=000000000010000c.*icount=0'
qcheck cont 8 '"status": "running"'
qcheck stop 10 '"status": "paused"'
if [ "$st" = 0 ]; then pass qmp_quit; else failm qmp_quit "status $st"; fi

# info registers of a vCPU in guest mode shows L2, marked as such (BRIEF
# decision 5): a snapshot of nested_long while L2 computes, loaded paused
if [ -f "$guestdir/nested_long.elf" ]; then
    "$nvmx" -serial none "${dbg[@]}" -kernel "$guestdir/nested_long.elf" \
        -savevm-at "3000000,$tmp/l2.img" -max-insns 3000000 </dev/null >/dev/null 2>&1
    "$nvmx" -serial none "${dbg[@]}" -loadvm "$tmp/l2.img" -S \
        -qmp "unix:$sock,server=on,wait=off" </dev/null >/dev/null 2>"$tmp/q2.err" &
    pid=$!
    timeout 150 "$qmpc" "$sock" \
        '{"execute": "human-monitor-command", "arguments": {"command-line": "info registers"}}' \
        '{"execute": "quit"}' >"$tmp/q.out" 2>&1
    wait_pid "$pid"
    qcheck info_registers_L2_in_guest_mode 1 'CPU#0 L2 \(vmcs02, guest mode\).*icount=3000000'
fi

# a -qmp or -incoming path that is not a socket is refused, never deleted
echo keep >"$tmp/regular"
"$nvmx" -serial none -kernel "$guestdir/bench.elf" -qmp "unix:$tmp/regular,server=on,wait=off" \
    </dev/null >/dev/null 2>"$tmp/r.err"
st=$?
"$nvmx" -serial none -incoming "unix:$tmp/regular" </dev/null >/dev/null 2>>"$tmp/r.err"
st2=$?
if [ "$st" = 2 ] && [ "$st2" = 2 ] && [ "$(cat "$tmp/regular")" = keep ] &&
    [ "$(grep -c "is not a socket" "$tmp/r.err")" = 2 ]; then
    pass socket_path_not_clobbered
else
    failm socket_path_not_clobbered "statuses $st $st2: $(head -c 300 "$tmp/r.err")"
fi

# a destination waiting for its stream answers QMP ("inmigrate") and quits
"$nvmx" -serial none -incoming "unix:$mig" -qmp "unix:$sock,server=on,wait=off" \
    </dev/null >/dev/null 2>"$tmp/i.err" &
pid=$!
timeout 150 "$qmpc" "$sock" '{"execute": "query-status"}' '{"execute": "cont"}' \
    '{"execute": "quit"}' >"$tmp/i.out" 2>&1
wait_pid "$pid"
if [ "$wst" = 0 ] && grep -q '"status": "inmigrate", "singlestep": false, "running": false' "$tmp/i.out" &&
    grep -q "waiting for an incoming migration" "$tmp/i.out"; then
    pass qmp_inmigrate
else
    failm qmp_inmigrate "status $wst: $(head -c 300 "$tmp/i.out") $(head -c 200 "$tmp/i.err")"
fi

# live_migrate NAME URI-OF-DESTINATION: the source runs (-S, then cont
# with migrate), the destination resumes; outputs concatenated, the
# destination's count and status must equal the uninterrupted run's.
live_migrate() {
    local name=$1 uri=$2
    rm -f "$tmp/d.out" "$tmp/s.out"
    "$nvmx" -serial "file:$tmp/d.out" "${dbg[@]}" -stats -incoming "$uri" </dev/null \
        >/dev/null 2>"$tmp/d.err" &
    local dpid=$!
    "$nvmx" -serial "file:$tmp/s.out" "${dbg[@]}" -stats -kernel "$guestdir/bench.elf" \
        -append "$barg" -S -qmp "unix:$sock,server=on,wait=off" </dev/null >/dev/null 2>"$tmp/s.err" &
    local spid=$!
    local i
    for i in $(seq 200); do
        grep -q "waiting for an incoming migration" "$tmp/d.err" 2>/dev/null && break
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.05
    done
    if grep -q "cannot listen" "$tmp/d.err"; then
        echo "SKIP: migrate/$name ($(head -c 200 "$tmp/d.err"))"
        kill "$spid"
        wait "$spid"
        return
    fi
    # migrate and cont in one write: the migration starts with the guest's
    # first instruction and proceeds while it runs (no race with its end)
    timeout 150 "$qmpc" "$sock" \
        "batch:{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"$uri\"}}"$'\n''{"execute": "cont"}' \
        wait-migrate \
        '{"execute": "query-status"}' '{"execute": "quit"}' >"$tmp/m.out" 2>&1
    local sst dst
    wait_pid "$spid"
    sst=$wst
    wait_pid "$dpid"
    dst=$wst
    if ! grep -q '"status": "completed"' "$tmp/m.out" || ! grep -q '"postmigrate"' "$tmp/m.out"; then
        failm "$name" "migration did not complete: $(head -c 400 "$tmp/m.out") $(head -c 300 "$tmp/s.err")"
    elif ! grep -Eq "completed at instruction ([0-9]+) \(started at ([0-9]+);" "$tmp/s.err"; then
        failm "$name" "no completion message: $(head -c 300 "$tmp/s.err")"
    elif [ "$(sed -n 's/.*completed at instruction \([0-9]*\) (started at \([0-9]*\);.*/\1 \2/p' "$tmp/s.err" |
        awk '{print ($1 > $2)}')" != 1 ]; then
        failm "$name" "the guest did not run during the migration: $(grep completed "$tmp/s.err")"
    elif [ "$sst" != 0 ] || [ "$dst" != "$bst" ]; then
        failm "$name" "statuses source $sst destination $dst (expected 0 and $bst): $(head -c 300 "$tmp/d.err")"
    elif ! cat "$tmp/s.out" "$tmp/d.out" | cmp -s - "$tmp/b.full"; then
        failm "$name" "serial output differs from the uninterrupted run"
    elif [ "$(stats "$tmp/d.err")" != "$(stats "$tmp/b.full.err")" ]; then
        failm "$name" "instruction or exit counts differ ($(icount "$tmp/d.err") instructions)"
    else
        pass "$name"
    fi
}
live_migrate live_unix "unix:$mig"
live_migrate live_unix_again "unix:$mig"
port=$((20000 + $$ % 20000))
live_migrate live_tcp "tcp:127.0.0.1:$port"

# migrate to a file, resume from it with -incoming file: and with -loadvm
"$nvmx" -serial "file:$tmp/s.out" "${dbg[@]}" -kernel "$guestdir/bench.elf" -append "$barg" \
    -S -qmp "unix:$sock,server=on,wait=off" </dev/null >/dev/null 2>"$tmp/s.err" &
pid=$!
timeout 150 "$qmpc" "$sock" \
    "batch:{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:$tmp/m.img\"}}"$'\n''{"execute": "cont"}' \
    wait-migrate '{"execute": "quit"}' >"$tmp/m.out" 2>&1
wait_pid "$pid"
for how in "-incoming file:$tmp/m.img" "-loadvm $tmp/m.img"; do
    # shellcheck disable=SC2086
    "$nvmx" -serial "file:$tmp/d.out" "${dbg[@]}" -stats $how </dev/null >/dev/null 2>"$tmp/d.err"
    st=$?
    name=file_${how%% *}
    if [ "$st" = "$bst" ] && cat "$tmp/s.out" "$tmp/d.out" | cmp -s - "$tmp/b.full" &&
        [ "$(icount "$tmp/d.err")" = "$(icount "$tmp/b.full.err")" ]; then
        pass "$name"
    else
        failm "$name" "status $st: $(head -c 300 "$tmp/d.err") $(head -c 200 "$tmp/m.out")"
    fi
done

# the destination drops the connection mid-stream: the migration fails,
# the source runs on and its run equals an uninterrupted one
"$qmpc" -sink "$mig" 200000 >"$tmp/sink.out" 2>&1 &
kpid=$!
for i in $(seq 100); do [ -S "$mig" ] && break; sleep 0.05; done
"$nvmx" -serial "file:$tmp/s.out" "${dbg[@]}" -stats -kernel "$guestdir/bench.elf" -append "$barg" \
    -S -qmp "unix:$sock,server=on,wait=off" </dev/null >/dev/null 2>"$tmp/s.err" &
pid=$!
timeout 150 "$qmpc" "$sock" \
    "batch:{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:$mig\"}}"$'\n''{"execute": "cont"}' \
    wait-migrate '{"execute": "query-status"}' >"$tmp/m.out" 2>&1
wait_pid "$pid"
st=$wst
wait_pid "$kpid"
if ! grep -q '"status": "failed"' "$tmp/m.out" || ! grep -q '"status": "running"' "$tmp/m.out"; then
    failm dropped_connection "migration did not fail cleanly: $(head -c 400 "$tmp/m.out")"
elif [ "$st" != "$bst" ] || ! cmp -s "$tmp/s.out" "$tmp/b.full" ||
    [ "$(stats "$tmp/s.err")" != "$(stats "$tmp/b.full.err")" ]; then
    failm dropped_connection "the source's run changed (status $st): $(head -c 300 "$tmp/s.err")"
else
    pass dropped_connection
fi
# the destination stops reading without closing (a network partition):
# after 10 s without progress the migration fails and the source runs on
"$qmpc" -stall "$mig" 100000 >"$tmp/sink.out" 2>&1 &
kpid=$!
for i in $(seq 100); do [ -S "$mig" ] && break; sleep 0.05; done
"$nvmx" -serial "file:$tmp/s.out" "${dbg[@]}" -stats -kernel "$guestdir/bench.elf" -append "$barg" \
    -S -qmp "unix:$sock,server=on,wait=off" </dev/null >/dev/null 2>"$tmp/s.err" &
pid=$!
timeout 150 "$qmpc" "$sock" \
    "batch:{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:$mig\"}}"$'\n''{"execute": "cont"}' \
    wait-migrate '{"execute": "query-status"}' >"$tmp/m.out" 2>&1
wait_pid "$pid"
st=$wst
kill "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
if ! grep -q '"status": "failed"' "$tmp/m.out" || ! grep -q '"status": "running"' "$tmp/m.out"; then
    failm stalled_destination "migration did not fail cleanly: $(head -c 400 "$tmp/m.out")"
elif [ "$st" != "$bst" ] || ! cmp -s "$tmp/s.out" "$tmp/b.full"; then
    failm stalled_destination "the source's run changed (status $st): $(head -c 300 "$tmp/s.err")"
else
    pass stalled_destination
fi

# a destination fed a stream that stops half-way starts nothing
head -c 300000 "$tmp/m.img" >"$tmp/half.img"
"$nvmx" -serial "file:$tmp/d.out" "${dbg[@]}" -stats -incoming "file:$tmp/half.img" </dev/null \
    >/dev/null 2>"$tmp/d.err"
st=$?
if [ "$st" = 2 ] && grep -q truncated "$tmp/d.err" && [ ! -s "$tmp/d.out" ]; then
    pass incoming_truncated
else
    failm incoming_truncated "status $st: $(head -c 300 "$tmp/d.err")"
fi
}

case $part in
snapshots) snapshots ;;
nested) nested ;;
live) live ;;
*) snapshots && nested && live ;;
esac
exit 0
