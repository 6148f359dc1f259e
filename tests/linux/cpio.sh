# One entry of a "newc" cpio archive (an initramfs) on stdout, for the
# Linux tests: cpio_entry NAME MODE RDEVMAJOR RDEVMINOR INO [FILE]
cpio_entry() { # name mode rdevmajor rdevminor ino [file]
    local name=$1 mode=$2 maj=$3 min=$4 ino=$5 file=${6:-} size=0
    [ -n "$file" ] && size=$(stat -c %s "$file")
    local nlen=$((${#name} + 1))
    printf '070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x' \
        "$ino" "$mode" 0 0 1 0 "$size" 0 0 "$maj" "$min" "$nlen" 0
    printf '%s\0' "$name"
    head -c $(((4 - (110 + nlen) % 4) % 4)) /dev/zero
    if [ -n "$file" ]; then
        cat "$file"
        head -c $(((4 - size % 4) % 4)) /dev/zero
    fi
}
