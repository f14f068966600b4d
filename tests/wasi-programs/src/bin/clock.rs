//! Clocks and sleeping.
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    println!("realtime after 2020: {}", now.as_secs() > 1_577_836_800);
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(50));
    let slept = start.elapsed();
    println!(
        "slept at least 50 ms: {}",
        slept >= Duration::from_millis(50)
    );
    let a = Instant::now();
    let b = Instant::now();
    println!("monotonic: {}", b >= a);
    let later = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    println!(
        "realtime advanced: {}",
        later >= now + Duration::from_millis(50)
    );
}
