#!/usr/bin/env bash
# rvisor-vmm for aarch64 hosts on a real (nested) KVM: Debian's stock arm64
# kernel boots under QEMU TCG with EL2 emulated (-M virt,virtualization=on,
# gic-version=3 -cpu max), where KVM is built in, and runs the aarch64
# rvisor-vmm (a static musl binary) against its /dev/kvm from an initramfs
# (busybox, rvisor-vmm, test programs). Based on the reference experiment
# (reference/nested-kvm/run-aarch64.sh).
#
#   scripts/nested-kvm-aarch64.sh [--keep]      exit 0 only if every check passed
#
# Checks inside the VM: rvisor-vmm --elf hello (output + status 0),
# exit_code 42 (status 42), fault (status 139), busybox cat of a file in a
# --mount host directory (hostfs and the VMM's seccomp filter on musl).
# Needs qemu-system-aarch64, gcc-aarch64-linux-gnu, the aarch64-unknown-linux-musl Rust target and
# `apt-get download` access (arm64 enabled in dpkg) for the kernel and
# busybox-static:arm64 (cached under target/nested-kvm-aarch64/). Builds
# rvisor-vmm for aarch64 (its own target dir, target/aarch64-vmm) unless
# RVISOR_VMM_AARCH64 names one. Takes ~10-30 s once built.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-$ROOT/target/nested-kvm-aarch64}
CPU=${CPU:-max,pauth-impdef=on}   # impdef pauth: much cheaper under TCG than QARMA
TIMEOUT=${TIMEOUT:-300}

for tool in qemu-system-aarch64 aarch64-linux-gnu-gcc busybox; do
    command -v "$tool" >/dev/null || { echo "nested-kvm-aarch64: $tool is missing (scripts/setup.sh)" >&2; exit 2; }
done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "nested-kvm-aarch64: dpkg has no arm64 architecture (scripts/setup.sh adds it)" >&2
    exit 2
fi
if [ -n "${RVISOR_VMM_AARCH64:-}" ]; then
    VMM=$RVISOR_VMM_AARCH64
else
    (cd "$ROOT" && cargo build --release -q -p rvisor-vmm --target aarch64-unknown-linux-musl \
        --target-dir "$ROOT/target/aarch64-vmm")
    VMM=$ROOT/target/aarch64-vmm/aarch64-unknown-linux-musl/release/rvisor-vmm
fi
mkdir -p "$W" && cd "$W"

# 1. The kernel (KVM built in) and busybox, from Debian's arm64 packages.
KPKG=${KPKG:-$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
KPKG=${KPKG%:arm64}
if [ ! -d "kpkg-$KPKG" ]; then
    ls "$KPKG"_*_arm64.deb >/dev/null 2>&1 ||
        apt-get -qq download "$KPKG:arm64" 2>&1 | { grep -v unsandboxed >&2 || true; }
    mkdir -p "kpkg-$KPKG.tmp"
    dpkg-deb --fsys-tarfile "$KPKG"_*_arm64.deb | tar -x -C "kpkg-$KPKG.tmp" --wildcards './boot/vmlinuz-*'
    mv "kpkg-$KPKG.tmp" "kpkg-$KPKG"
    rm -f "$KPKG"_*.deb
fi
if [ ! -x bb/bin/busybox ]; then
    rm -rf bb.tmp
    ls busybox-static_*_arm64.deb >/dev/null 2>&1 ||
        apt-get -qq download busybox-static:arm64 2>&1 | { grep -v unsandboxed >&2 || true; }
    dpkg-deb -x busybox-static_*_arm64.deb bb.tmp
    rm -rf bb && mv bb.tmp bb
    rm -f busybox-static_*_arm64.deb
fi
KVER=${KPKG#linux-image-}

# 2. Test programs (static glibc, aarch64).
mkdir -p progs
for p in hello exit_code fault host_signal; do
    aarch64-linux-gnu-gcc -static -O2 -w -o "progs/$p" "$ROOT/tests/programs/$p.c"
done

# 3. initramfs: busybox, rvisor-vmm (static), the programs.
rm -rf root && mkdir -p root/bin root/proc root/sys root/dev root/tmp root/progs
cp bb/bin/busybox root/bin/busybox
cp progs/* root/progs/
cp "$VMM" root/bin/rvisor-vmm
cat > root/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
[ -e /dev/kvm ] || echo "NESTED: no /dev/kvm"
check() { # expected-status description command...
    want=$1; shift; what=$1; shift
    out=$("$@" 2>&1); got=$?
    echo "$out" | sed 's/^/    | /'
    if [ "$got" = "$want" ]; then echo "NESTED PASS $what (status $got)"; else echo "NESTED FAIL $what (status $got, want $want)"; fi
}
signal_check() { # expected-status description signal host_signal-args...
    want=$1; shift; what=$1; shift; sig=$1; shift
    out=/tmp/sig-$what.out
    /bin/rvisor-vmm --elf /progs/host_signal "$@" > $out 2>&1 &
    p=$!
    # The program's "ready" says rvisor-vmm forwards signals by now.
    n=0; until grep -qs ready $out || [ $n -gt 1200 ]; do sleep 0.1; n=$((n+1)); done
    kill -$sig $p; wait $p; got=$?
    sed 's/^/    | /' $out
    if [ "$got" = "$want" ]; then echo "NESTED PASS $what (status $got)"; else echo "NESTED FAIL $what (status $got, want $want)"; fi
}
t0=$(cut -d' ' -f1 /proc/uptime)
check 0 hello /bin/rvisor-vmm --stats --elf /progs/hello
check 42 exit_code /bin/rvisor-vmm --elf /progs/exit_code 42
check 139 fault /bin/rvisor-vmm --elf /progs/fault
# (A background job of this shell has SIGINT and SIGQUIT ignored, and so
# would the program natively: rvisor-vmm leaves them ignored. SIGUSR1 and
# SIGTERM are at their defaults.)
signal_check 0 sigusr1_handler_spin USR1 handler 10 spin
signal_check 0 sigusr1_handler_pause USR1 handler 10 pause
signal_check 143 sigterm_default_spin TERM default 15 spin
echo "hello from the host dir" > /tmp/msg.txt
check 0 mount_cat /bin/rvisor-vmm --mount /tmp:/host --elf /bin/busybox cat /host/msg.txt
echo "NESTED DONE in $(cut -d' ' -f1 /proc/uptime)s uptime (checks started at ${t0}s)"
poweroff -f
INIT
chmod +x root/init
(cd root && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) > initramfs.gz

# 4. Boot under TCG with EL2 (KVM's host side runs there).
t0=$(date +%s%N)
timeout "$TIMEOUT" qemu-system-aarch64 -accel tcg \
    -M virt,virtualization=on,gic-version=3 -cpu "$CPU" -smp 1 -m 1024 \
    -nodefaults -display none -serial stdio -no-reboot \
    -kernel "kpkg-$KPKG/boot/vmlinuz-$KVER" -initrd initramfs.gz \
    -append "console=ttyAMA0 panic=-1 quiet loglevel=4" | tr -d '\r' | tee console.log || true
t1=$(date +%s%N)
echo "nested-kvm-aarch64: QEMU wall time $(( (t1 - t0) / 1000000 )) ms"
grep -q "NESTED DONE" console.log || { echo "nested-kvm-aarch64: the VM did not finish the checks" >&2; exit 1; }
if grep -q "NESTED FAIL\|NESTED: no /dev/kvm" console.log; then
    echo "nested-kvm-aarch64: FAIL" >&2
    exit 1
fi
[ "$(grep -c "NESTED PASS" console.log)" = 7 ] || { echo "nested-kvm-aarch64: FAIL (missing checks)" >&2; exit 1; }
echo "nested-kvm-aarch64: PASS"
