//! Reads stdin to the end: prints the byte and line counts and the lines
//! reversed.
use std::io::Read;

fn main() {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .expect("read stdin");
    println!("bytes={} lines={}", input.len(), input.lines().count());
    for line in input.lines().rev() {
        println!("{line}");
    }
}
