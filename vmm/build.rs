//! Builds the sentry (guest-kernel/, a no_std crate for x86_64-unknown-none
//! or aarch64-unknown-none, matching the host rvisor-vmm is built for) and
//! the WebAssembly runtime (wasm-runtime/, a static Linux ELF for the same
//! architecture, which `--wasm` runs inside the sandbox) with the same cargo
//! (see `boards::build`), and embeds both in rvisor-vmm.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let (guest_target, runtime_target) = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => (
            boards::build::GUEST_TARGET_AARCH64,
            "aarch64-unknown-linux-musl",
        ),
        _ => (boards::build::GUEST_TARGET, "x86_64-unknown-linux-musl"),
    };
    let kernel = boards::build::build_sentry_for(root, guest_target);
    println!("cargo:rustc-env=RVISOR_SENTRY_ELF={}", kernel.display());
    let runtime = boards::build::build_wasm_runtime(root, runtime_target);
    println!(
        "cargo:rustc-env=RVISOR_WASM_RUNTIME_ELF={}",
        runtime.display()
    );
    // The engine's identity for the compiled-code cache (vmm/src/wasm.rs).
    let elf = std::fs::read(&runtime).expect("reading the wasm runtime");
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&elf);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=RVISOR_WASM_RUNTIME_SHA256={hex}");
}
