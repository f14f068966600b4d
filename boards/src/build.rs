//! Building the sentry from a host build script (`vmm/build.rs`,
//! `qemu-runner/build.rs`): one nested cargo invocation for
//! the sentry's target (`x86_64-unknown-none`, or `aarch64-unknown-none` for
//! the aarch64 boards), with its own target directory
//! (`<workspace>/target/guest-kernel`) so it never waits on the lock of the
//! outer build. Both build scripts share that directory: cargo serialises
//! them and the second finds the sentry up to date.

extern crate std;

use std::env;
use std::path::{Path, PathBuf};
use std::println;
use std::process::Command;
use std::string::String;

/// The sentry's target triple (x86_64, what rvisor-vmm embeds).
pub const GUEST_TARGET: &str = "x86_64-unknown-none";
/// The aarch64 sentry's target triple (the aarch64 boards).
pub const GUEST_TARGET_AARCH64: &str = "aarch64-unknown-none";

/// Builds `<root>/guest-kernel` for x86_64 in release mode and returns the
/// path of the sentry ELF (see [`build_sentry_for`]).
pub fn build_sentry(root: &Path) -> PathBuf {
    build_sentry_for(root, GUEST_TARGET)
}

/// Builds `<root>/guest-kernel` for `target` in release mode and returns the
/// path of the sentry ELF. Prints the `cargo:rerun-if-changed` lines for its
/// sources. Panics (failing the build script) when the build fails.
pub fn build_sentry_for(root: &Path, target: &str) -> PathBuf {
    let kernel_dir = root.join("guest-kernel");
    let target_dir = root.join("target").join("guest-kernel");

    for dir in ["guest-kernel/src", "boards/src"] {
        rerun_if_changed_recursive(&root.join(dir));
    }
    for file in [
        "guest-kernel/Cargo.toml",
        "guest-kernel/Cargo.lock",
        "guest-kernel/build.rs",
        "guest-kernel/.cargo/config.toml",
        "boards/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&kernel_dir)
        .args(["build", "--release", "--target", target])
        .arg("--target-dir")
        .arg(&target_dir);
    // The sentry has its own settings (guest-kernel/.cargo/config.toml).
    for var in OUTER_BUILD_VARS {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("building the sentry: could not run cargo");
    if !status.success() {
        panic!("building guest-kernel for {target} failed");
    }
    target_dir
        .join(target)
        .join("release")
        .join("rvisor-sentry")
}

/// Builds `<root>/wasm-runtime` (wasmtime with WASI preview 1, see
/// docs/wasi.md) for `target` (`x86_64-unknown-linux-musl` or
/// `aarch64-unknown-linux-musl`) in release mode, in its own target
/// directory (`<workspace>/target/wasm-runtime`), and returns the path of
/// the static ELF. Panics (failing the build script) when the build fails.
pub fn build_wasm_runtime(root: &Path, target: &str) -> PathBuf {
    let crate_dir = root.join("wasm-runtime");
    let target_dir = root.join("target").join("wasm-runtime");
    rerun_if_changed_recursive(&crate_dir.join("src"));
    for file in ["wasm-runtime/Cargo.toml", "wasm-runtime/Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let cargo = env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&crate_dir)
        .args(["build", "--release", "--locked", "--target", target])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in OUTER_BUILD_VARS {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("building the wasm runtime: could not run cargo");
    if !status.success() {
        panic!("building wasm-runtime for {target} failed");
    }
    target_dir
        .join(target)
        .join("release")
        .join("rvisor-wasm-runtime")
}

/// The outer build's settings are for the host; nested builds have their own.
const OUTER_BUILD_VARS: [&str; 9] = [
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

fn rerun_if_changed_recursive(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                rerun_if_changed_recursive(&path);
            } else {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
