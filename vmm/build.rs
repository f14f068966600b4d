//! Builds the sentry (guest-kernel/, a no_std crate for x86_64-unknown-none)
//! with the same cargo and embeds the resulting ELF in rvisor-vmm.
//!
//! The sentry has its own target directory so this nested cargo never waits
//! on the lock of the outer build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let kernel_dir = root.join("guest-kernel");
    let target_dir = root.join("target").join("guest-kernel");
    let guest_target = "x86_64-unknown-none";

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

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&kernel_dir)
        .args(["build", "--release", "--target", guest_target])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's settings are for the host; the sentry has its own
    // (guest-kernel/.cargo/config.toml).
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("rvisor-vmm build: could not run cargo to build the sentry");
    if !status.success() {
        panic!("rvisor-vmm build: building guest-kernel for {guest_target} failed");
    }
    let kernel = target_dir
        .join(guest_target)
        .join("release")
        .join("rvisor-sentry");
    println!("cargo:rustc-env=RVISOR_SENTRY_ELF={}", kernel.display());
}

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
