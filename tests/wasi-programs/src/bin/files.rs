//! Files in a read-only directory (argv[1], holding input.txt) and a
//! read-write one (argv[2]): read, write, append, seek, metadata, and the
//! errors a read-only directory gives.
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ro = Path::new(&args[1]);
    let rw = Path::new(&args[2]);

    let input = fs::read_to_string(ro.join("input.txt")).expect("read input.txt");
    println!(
        "input.txt: {} bytes, {} lines",
        input.len(),
        input.lines().count()
    );
    println!("first line: {:?}", input.lines().next());
    let meta = fs::metadata(ro.join("input.txt")).expect("stat");
    println!(
        "metadata: len={} is_file={} is_dir={}",
        meta.len(),
        meta.is_file(),
        meta.is_dir()
    );
    println!(
        "missing file: {:?}",
        fs::read(ro.join("missing.txt")).map_err(|e| e.kind())
    );
    // On stderr: natively (as root) the directory is writable.
    eprintln!(
        "write into read-only dir fails: {}",
        File::create(ro.join("new.txt")).is_err()
    );

    let out = rw.join("out.txt");
    let mut f = File::create(&out).expect("create out.txt");
    for i in 0..100 {
        writeln!(f, "line {i}: {}", "x".repeat(i % 17)).unwrap();
    }
    drop(f);
    let mut f = OpenOptions::new()
        .append(true)
        .open(&out)
        .expect("open for append");
    f.write_all(b"appended\n").unwrap();
    drop(f);
    let mut f = File::open(&out).unwrap();
    f.seek(SeekFrom::Start(10)).unwrap();
    let mut buf = [0u8; 20];
    f.read_exact(&mut buf).unwrap();
    println!("at 10: {:?}", String::from_utf8_lossy(&buf));
    let end = f.seek(SeekFrom::End(-9)).unwrap();
    let mut tail = String::new();
    f.read_to_string(&mut tail).unwrap();
    println!("tail at {end}: {tail:?}");
    let f = OpenOptions::new().write(true).open(&out).unwrap();
    f.set_len(50).unwrap();
    drop(f);
    println!(
        "after truncate: {} bytes",
        fs::metadata(&out).unwrap().len()
    );
    fs::write(
        rw.join("result.txt"),
        format!(
            "sum of input bytes: {}\n",
            input.bytes().map(u64::from).sum::<u64>()
        ),
    )
    .unwrap();
    println!("result.txt written");
}
