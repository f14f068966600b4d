fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let target = std::env::var("TARGET").unwrap();
    let arch = if target.starts_with("x86_64") {
        Some("x86_64")
    } else if target.starts_with("aarch64") {
        Some("aarch64")
    } else {
        None
    };
    if let Some(arch) = arch {
        let script = format!("{dir}/src/arch/{arch}/linker.ld");
        println!("cargo:rustc-link-arg=-T{script}");
        println!("cargo:rerun-if-changed={script}");
    }
    println!("cargo:rustc-link-arg=-zmax-page-size=0x1000");
    if arch == Some("x86_64") {
        build_vdso(&dir);
    }
}

/// The x86_64 vDSO: a tiny shared object built from C with the host's C
/// compiler, embedded in the sentry and mapped into every program.
fn build_vdso(dir: &str) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("vdso.so");
    let src = format!("{dir}/vdso/vdso_x86_64.c");
    let script = format!("{dir}/vdso/vdso_x86_64.lds");
    let map = format!("{dir}/vdso/vdso_x86_64.map");
    for file in [&src, &script, &map] {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-env-changed=CC");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(&cc)
        .args([
            "-shared",
            "-nostdlib",
            "-fPIC",
            "-O2",
            "-m64",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-fno-builtin",
            "-Wall",
            "-Werror",
        ])
        .arg(format!("-Wl,-T,{script}"))
        .arg(format!("-Wl,--version-script={map}"))
        .args([
            "-Wl,--hash-style=both",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,-z,max-page-size=4096",
            "-Wl,--no-undefined",
            "-o",
        ])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("building the vDSO needs a C compiler ({cc}): {e}"));
    assert!(status.success(), "building the vDSO with {cc} failed");
    println!("cargo:rustc-env=RVISOR_VDSO={}", out.display());
}
