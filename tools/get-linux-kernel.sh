#!/usr/bin/env bash
# Fetches Debian's current amd64 Linux kernel (the package linux-image-amd64
# depends on) with apt and extracts its bzImage to build/linux/vmlinuz, for
# tests/linux-boot.sh (`make linux-check`). Needs apt-get and dpkg-deb.
set -eu
out=${1:-build/linux}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
    echo "get-linux-kernel: no linux-image package found (run apt-get update first)" >&2
    exit 1
fi
(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1 && dpkg-deb -x ./*.deb x)
cp "$tmp"/x/boot/vmlinuz-* "$out/vmlinuz"
# the KVM modules of the same kernel, for tests/linux-kvm.sh (KVM as L1)
for m in virt/lib/irqbypass.ko arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-intel.ko; do
    f=$(ls "$tmp"/x/lib/modules/*/kernel/"$m"* 2>/dev/null | head -1)
    [ -n "$f" ] || continue
    case $f in
    *.xz) xz -dc "$f" >"$out/$(basename "$m")" ;;
    *.zst) zstd -dqc "$f" >"$out/$(basename "$m")" ;;
    *) cp "$f" "$out/$(basename "$m")" ;;
    esac
done
echo "$out/vmlinuz: $pkg"
