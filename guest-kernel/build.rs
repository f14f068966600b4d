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
}
