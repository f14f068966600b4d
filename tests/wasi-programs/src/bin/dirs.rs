//! Directory work in a read-write directory (argv[1]): mkdir, listing,
//! rename, unlink, rmdir, and their errors.
use std::fs;
use std::path::Path;

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.unwrap();
            let kind = if e.file_type().unwrap().is_dir() {
                "/"
            } else {
                ""
            };
            format!("{}{kind}", e.file_name().to_string_lossy())
        })
        .collect();
    names.sort();
    names
}

fn main() {
    let base = std::path::PathBuf::from(std::env::args().nth(1).expect("a directory"));
    let top = base.join("work");
    fs::create_dir(&top).expect("mkdir work");
    println!(
        "mkdir again: {:?}",
        fs::create_dir(&top).map_err(|e| e.kind())
    );
    fs::create_dir_all(top.join("a/b/c")).unwrap();
    for i in 0..5 {
        fs::write(top.join(format!("file{i}.txt")), format!("contents {i}\n")).unwrap();
    }
    fs::write(top.join("a/b/deep.txt"), "deep\n").unwrap();
    println!("listing: {:?}", list(&top));
    println!("a/b: {:?}", list(&top.join("a/b")));
    fs::rename(top.join("file0.txt"), top.join("renamed.txt")).unwrap();
    fs::rename(top.join("a/b/deep.txt"), top.join("shallow.txt")).unwrap();
    fs::rename(top.join("a/b/c"), top.join("c-moved")).unwrap();
    println!("after renames: {:?}", list(&top));
    println!(
        "renamed contents: {:?}",
        fs::read_to_string(top.join("renamed.txt")).unwrap()
    );
    fs::remove_file(top.join("file1.txt")).unwrap();
    println!(
        "unlink missing: {:?}",
        fs::remove_file(top.join("file1.txt")).map_err(|e| e.kind())
    );
    println!(
        "rmdir non-empty: {}",
        fs::remove_dir(top.join("a")).is_err()
    );
    fs::remove_dir(top.join("a/b")).unwrap();
    fs::remove_dir(top.join("a")).unwrap();
    println!("after removals: {:?}", list(&top));
    fs::write(top.join("keep.txt"), "kept\n").unwrap();
    println!("final: {:?}", list(&top));
}
