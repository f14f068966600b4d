//! Builds the sentry (guest-kernel/, a no_std crate for x86_64-unknown-none)
//! with the same cargo (see `boards::build`) and embeds the resulting ELF in
//! rvisor-vmm.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let kernel = boards::build::build_sentry(root);
    println!("cargo:rustc-env=RVISOR_SENTRY_ELF={}", kernel.display());
}
