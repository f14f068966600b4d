//! Builds the sentry (guest-kernel/, a no_std crate for x86_64-unknown-none
//! or aarch64-unknown-none, matching the host rvisor-vmm is built for) with
//! the same cargo (see `boards::build`) and embeds the resulting ELF in
//! rvisor-vmm.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let guest_target = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => boards::build::GUEST_TARGET_AARCH64,
        _ => boards::build::GUEST_TARGET,
    };
    let kernel = boards::build::build_sentry_for(root, guest_target);
    println!("cargo:rustc-env=RVISOR_SENTRY_ELF={}", kernel.display());
}
