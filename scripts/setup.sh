#!/usr/bin/env bash
# Installs what building and testing rvisor needs on a fresh Debian machine:
# apt packages (only the missing ones, --no-install-recommends) and the Rust
# targets/components listed in rust-toolchain.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    gcc                 # builds the sentry's vDSO
    musl-tools          # musl-gcc: static C test programs
    busybox-static      # glibc-static applets for ABI tests
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross  # aarch64 test programs (and wrong-architecture input)
    bubblewrap proot hyperfine                   # benchmarks: side-by-side runs
    ripgrep sqlite3     # benchmarks: a search over a shared tree, SQL on a :rw mount
    gnuplot-nox time    # benchmarks: the plot (docs/benchmarks.png) and peak RSS
    qemu-system-x86     # qemu-runner: bare-metal boots of the qemu-x86_64 board (TCG)
    qemu-system-arm     # qemu-runner: qemu-system-aarch64 for the qemu-aarch64-virt board
    qemu-user           # qemu-aarch64: aarch64 test programs run "natively" for comparison
    autoconf automake m4 make pkg-config libc6-dev  # LTP's build (scripts/conformance.sh, tests/tests/ltp_subset.rs)
    podman conmon runc containerd  # rvisor-runtime's integration tests (tests/tests/oci.rs: podman, ctr) and the runc comparison
)
# The aarch64 nested-KVM test downloads Debian's arm64 kernel and
# busybox-static:arm64 (apt-get download): dpkg must know the architecture.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup: adding the arm64 dpkg architecture"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -qq
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# rustup installs the toolchain, targets and components of rust-toolchain.toml
# on first use; make that happen now rather than in the middle of a build.
rustup show active-toolchain >/dev/null
for target in x86_64-unknown-none x86_64-unknown-linux-musl aarch64-unknown-none aarch64-unknown-linux-musl wasm32-wasip1 wasm32-wasip2; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null
done
