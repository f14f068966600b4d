//! Hello on stdout, and a line on stderr.
fn main() {
    println!("Hello from WebAssembly!");
    eprintln!("a line on stderr");
}
