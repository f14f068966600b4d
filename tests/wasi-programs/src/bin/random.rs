//! Random bytes from the system (WASI random_get, Linux getrandom):
//! prints properties, never the bytes.
#[cfg(target_os = "wasi")]
fn fill(buf: &mut [u8]) {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn random_get(buf: *mut u8, len: usize) -> u16;
    }
    // SAFETY: random_get writes len bytes into buf.
    let errno = unsafe { random_get(buf.as_mut_ptr(), buf.len()) };
    assert_eq!(errno, 0, "random_get failed");
}

#[cfg(not(target_os = "wasi"))]
fn fill(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(buf)
        .unwrap();
}

fn main() {
    let mut a = [0u8; 4096];
    let mut b = [0u8; 4096];
    fill(&mut a);
    fill(&mut b);
    println!("two draws differ: {}", a != b);
    let ones: u32 = a.iter().chain(b.iter()).map(|x| x.count_ones()).sum();
    // 65536 bits: the count of ones is 32768 +- a few hundred.
    println!("balanced bits: {}", (31_000..34_500).contains(&ones));
    let mut seen = [false; 256];
    for &x in a.iter() {
        seen[x as usize] = true;
    }
    println!("all byte values seen: {}", seen.iter().all(|&s| s));
}
