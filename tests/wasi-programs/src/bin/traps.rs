//! Ends abnormally in the way argv[1] names: `abort` (wasm: unreachable;
//! native: SIGABRT), `stack-overflow` (wasm: a trap; native: Rust's
//! overflow handler aborts), `out-of-bounds` (wasm: a trap; native:
//! SIGSEGV), `panic` (both abort: panic=abort for this crate).
use std::hint::black_box;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, buf: &mut [u8; 256]) -> u64 {
    buf[(depth % 256) as usize] = depth as u8;
    let mut local = [0u8; 256];
    local[0] = buf[0];
    1 + recurse(black_box(depth + 1), black_box(&mut local))
}

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_default();
    println!("about to {kind}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    match kind.as_str() {
        "abort" => std::process::abort(),
        "stack-overflow" => {
            let mut buf = [0u8; 256];
            println!("{}", recurse(0, &mut buf));
        }
        "out-of-bounds" => {
            let p = black_box(0xffff_fff0usize) as *const u32;
            // SAFETY: not safe at all: the access is meant to fault.
            let v = unsafe { std::ptr::read_volatile(p) };
            println!("read {v}");
        }
        "panic" => panic!("deliberate panic"),
        _ => println!("unknown kind"),
    }
}
