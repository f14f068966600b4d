//! rust-hello [CODE] [ARGS...]: prints a greeting, its arguments and its
//! environment, writes one line to stderr and exits with CODE (default 0;
//! a non-numeric CODE also means 0).
//!
//! rust-hello threads: std threads, channels, a mutex and a condition
//! variable, and a child process (std::process::Command on itself).

use std::io::Write;
use std::sync::{mpsc, Arc, Condvar, Mutex};

fn threads() {
    // Workers send their partial sums over a channel.
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let sum: u64 = (w * 1000..(w + 1) * 1000).sum();
                tx.send((w, sum)).unwrap();
                w
            })
        })
        .collect();
    drop(tx);
    let mut results: Vec<(u64, u64)> = rx.iter().collect();
    results.sort();
    let joined: Vec<u64> = workers.into_iter().map(|h| h.join().unwrap()).collect();
    println!("channel results={results:?} joined={joined:?}");

    // A shared counter under a mutex, and a condition variable handshake.
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = Arc::clone(&counter);
            std::thread::spawn(move || {
                for _ in 0..500 {
                    *c.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    println!("mutex counter={}", counter.lock().unwrap());
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let other = Arc::clone(&pair);
    let waiter = std::thread::spawn(move || {
        let (lock, cvar) = &*other;
        let mut started = lock.lock().unwrap();
        while !*started {
            started = cvar.wait(started).unwrap();
        }
        "woken"
    });
    {
        let (lock, cvar) = &*pair;
        *lock.lock().unwrap() = true;
        cvar.notify_one();
    }
    println!("condvar: {}", waiter.join().unwrap());
    let name = std::thread::Builder::new()
        .name("named-worker".into())
        .spawn(|| std::thread::current().name().map(str::to_owned))
        .unwrap()
        .join()
        .unwrap();
    println!("thread name: {name:?}");

    // A child process: this program again, with a greeting to print.
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .arg("7")
        .env_clear()
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    println!("child: status={:?} first line={first:?}", out.status.code());
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "threads") {
        threads();
        return;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "Hello from Rust in rvisor!").unwrap();
    writeln!(out, "argc={}", args.len()).unwrap();
    for (i, a) in args.iter().enumerate() {
        writeln!(out, "argv[{i}]=[{}]", a.to_string_lossy()).unwrap();
    }
    for (k, v) in std::env::vars_os() {
        writeln!(
            out,
            "env[{}]=[{}]",
            k.to_string_lossy(),
            v.to_string_lossy()
        )
        .unwrap();
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
