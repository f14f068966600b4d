//! A CPU-bound loop (the benchmark): sieve of Eratosthenes and an integer
//! hash chain, sized by argv[1] (default 1).
fn main() {
    let rounds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let mut total = 0u64;
    for round in 0..rounds {
        let n = 2_000_000usize;
        let mut composite = vec![false; n + 1];
        let mut count = 0u64;
        for i in 2..=n {
            if !composite[i] {
                count += 1;
                // u64: i * i overflows a 32-bit usize (wasm32).
                let mut j = i as u64 * i as u64;
                while j <= n as u64 {
                    composite[j as usize] = true;
                    j += i as u64;
                }
            }
        }
        let mut h = round ^ 0x9e37_79b9_7f4a_7c15;
        for k in 0..5_000_000u64 {
            h = (h ^ (h >> 29))
                .wrapping_mul(0xbf58_476d_1ce4_e5b9)
                .wrapping_add(k);
        }
        total = total.wrapping_add(count).wrapping_add(h & 0xffff);
    }
    println!("rounds={rounds} result={total}");
}
