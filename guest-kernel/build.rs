fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let target = std::env::var("TARGET").unwrap();
    if target.starts_with("x86_64") {
        let script = format!("{dir}/src/arch/x86_64/linker.ld");
        println!("cargo:rustc-link-arg=-T{script}");
        println!("cargo:rerun-if-changed={script}");
    }
    println!("cargo:rustc-link-arg=-zmax-page-size=0x1000");
}
