#!/usr/bin/env bash
# rvisor-vmm on hardware-style KVM (the sentry's `native` backend), here:
# Debian's stock kernel boots under QEMU TCG with an AMD CPU model that has
# SVM, loads kvm_amd, and runs rvisor-vmm against its /dev/kvm from an
# initramfs (busybox, rvisor-vmm with its glibc libraries, test programs).
# Based on docs' reference experiment (reference/nested-kvm/run-x86_64.sh).
#
#   scripts/nested-kvm-x86_64.sh [--keep]       exit 0 only if every check passed
#
# Checks inside the VM: rvisor-vmm --elf hello (output + status 0),
# exit_code 42 (status 42), fault (status 139). Needs qemu-system-x86,
# musl-tools, busybox-static and `apt-get download` access for the kernel
# package (cached under target/nested-kvm/). Takes ~10-30 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-$ROOT/target/nested-kvm}
CPU=${CPU:-max}            # CPU=qemu64,+svm: SVM without nested paging
TIMEOUT=${TIMEOUT:-240}
VMM=${RVISOR_VMM:-$ROOT/target/release/rvisor-vmm}

for tool in qemu-system-x86_64 musl-gcc busybox; do
    command -v "$tool" >/dev/null || { echo "nested-kvm: $tool is missing (scripts/setup.sh)" >&2; exit 2; }
done
[ -x "$VMM" ] || (cd "$ROOT" && cargo build --release -p rvisor-vmm)
mkdir -p "$W" && cd "$W"

# 1. The kernel and the four modules KVM needs, from Debian's package.
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
if [ ! -d "kpkg-$KPKG" ]; then
    rm -f "$KPKG"_*.deb
    apt-get -qq download "$KPKG" 2>&1 | { grep -v unsandboxed >&2 || true; }
    mkdir -p "kpkg-$KPKG.tmp"
    dpkg-deb --fsys-tarfile "$KPKG"_*.deb | tar -x -C "kpkg-$KPKG.tmp" --wildcards \
        './boot/vmlinuz-*' '*/irqbypass.ko*' '*/ccp/ccp.ko*' '*/kvm/kvm.ko*' '*/kvm/kvm-amd.ko*'
    mv "kpkg-$KPKG.tmp" "kpkg-$KPKG"
    rm -f "$KPKG"_*.deb
fi
KVER=${KPKG#linux-image-}
KDIR=kpkg-$KPKG/lib/modules/$KVER/kernel

# 2. Test programs (static musl).
mkdir -p progs
for p in hello exit_code fault host_signal; do
    musl-gcc -static -O2 -w -o "progs/$p" "$ROOT/tests/programs/$p.c"
done

# 3. initramfs: busybox, modules, rvisor-vmm and the libraries it links.
rm -rf root && mkdir -p root/bin root/mods root/proc root/sys root/dev root/tmp root/progs
cp "$(command -v busybox)" root/bin/busybox
cp progs/* root/progs/
cp "$VMM" root/bin/rvisor-vmm
for lib in $(ldd "$VMM" | awk '/=>/ {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "root$(dirname "$lib")"
    cp -L "$lib" "root$lib"
done
for m in virt/lib/irqbypass drivers/crypto/ccp/ccp arch/x86/kvm/kvm arch/x86/kvm/kvm-amd; do
    f=$(ls "$KDIR/$m.ko"* | head -1)
    case $f in
    *.xz)  xz -dc "$f" > "root/mods/$(basename "$m").ko" ;;
    *.zst) zstd -dqc "$f" > "root/mods/$(basename "$m").ko" ;;
    *)     cp "$f" "root/mods/" ;;
    esac
done
cat > root/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in irqbypass ccp kvm kvm-amd; do insmod /mods/$m.ko || echo "insmod $m failed"; done
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
echo "NESTED DONE in $(cut -d' ' -f1 /proc/uptime)s uptime (checks started at ${t0}s)"
poweroff -f
EOF
chmod +x root/init
(cd root && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) > initramfs.gz

# 4. Boot under TCG.
t0=$(date +%s%N)
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -M pc -cpu "$CPU" -smp 1 -m 1024 \
    -nodefaults -display none -serial stdio -no-reboot \
    -kernel "kpkg-$KPKG/boot/vmlinuz-$KVER" -initrd initramfs.gz \
    -append "console=ttyS0 panic=-1 quiet loglevel=4" | tr -d '\r' | tee console.log || true
t1=$(date +%s%N)
echo "nested-kvm: QEMU wall time $(( (t1 - t0) / 1000000 )) ms"
grep -q "NESTED DONE" console.log || { echo "nested-kvm: the VM did not finish the checks" >&2; exit 1; }
if grep -q "NESTED FAIL\|NESTED: no /dev/kvm" console.log; then
    echo "nested-kvm: FAIL" >&2
    exit 1
fi
[ "$(grep -c "NESTED PASS" console.log)" = 6 ] || { echo "nested-kvm: FAIL (missing checks)" >&2; exit 1; }
echo "nested-kvm: PASS"
