//! rust-hello [CODE] [ARGS...]: prints a greeting, its arguments and its
//! environment, writes one line to stderr and exits with CODE (default 0;
//! a non-numeric CODE also means 0).

use std::io::Write;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "Hello from Rust in rvisor!").unwrap();
    writeln!(out, "argc={}", args.len()).unwrap();
    for (i, a) in args.iter().enumerate() {
        writeln!(out, "argv[{i}]=[{}]", a.to_string_lossy()).unwrap();
    }
    for (k, v) in std::env::vars_os() {
        writeln!(out, "env[{}]=[{}]", k.to_string_lossy(), v.to_string_lossy()).unwrap();
    }
    // Exercise the allocator and formatting a bit.
    let v: Vec<u64> = (1..=1000).collect();
    let s: u64 = v.iter().sum();
    let text = format!("{:?}", &v[..5]);
    writeln!(out, "sum(1..=1000)={s} first={text}").unwrap();
    out.flush().unwrap();
    drop(out);

    eprintln!("rust-hello: this line goes to stderr");

    let code = args
        .get(1)
        .and_then(|a| a.to_str())
        .and_then(|a| a.parse::<i32>().ok())
        .unwrap_or(0);
    std::process::exit(code);
}
