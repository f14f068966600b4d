//! Prints its arguments (not argv[0], which is a path) and its
//! environment, sorted.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("argc={}", args.len());
    for (i, arg) in args.iter().enumerate().skip(1) {
        println!("argv[{i}]={arg:?}");
    }
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    for (key, value) in vars {
        println!("env {key}={value:?}");
    }
    println!("FOO is {:?}", std::env::var("FOO").ok());
}
