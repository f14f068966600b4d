//! The sentry's caches of shared host directories (dentries, negative
//! entries, attributes, symlink targets, file pages) and the host-file
//! request ring: what the documented coherence policy promises
//! (docs/ARCHITECTURE.md, "Shared directories: the ring and the caches").
//!
//! `hostfs_coherence check` runs natively on a host directory and in the
//! sandbox on an identical `:rw` mount: writes, renames, unlinks and
//! creations by one descriptor or process are seen at once through every
//! other. `hostfs_coherence host` shows that names and files the sandbox
//! has not looked at yet are read as the host has them, even when the host
//! changes them while the sandbox runs.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use rvisor_tests::abi::*;
use rvisor_tests::*;

#[test]
fn own_changes_are_seen_at_once_like_native() {
    let prog = c_program("hostfs_coherence");
    if !require_kvm() {
        return;
    }
    let a = fresh_dir("coherence_native");
    let b = fresh_dir("coherence_sandbox");
    let native = run_native(&prog, &["check", a.to_str().unwrap()], None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "hostfs_coherence fails natively:\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(
        &prog,
        &["check", "/data"],
        &["--mount", &mount_arg(&b, "/data", Some("rw"))],
        None,
    );
    assert_same(&native, &sandbox, Compare::All);
    // And the host sees the sandbox's changes.
    assert_eq!(std::fs::read(b.join("newname")).unwrap(), b"again");
    assert!(b.join("d2/x").exists() && !b.join("d").exists() && !b.join("g").exists());
    assert_eq!(
        std::fs::read_link(b.join("ln")).unwrap().to_str(),
        Some("target2")
    );
}

#[test]
fn host_changes_to_unseen_names_are_seen() {
    let prog = c_program("hostfs_coherence");
    if !require_kvm() {
        return;
    }
    for mode in ["ro", "rw"] {
        let dir = fresh_dir(&format!("coherence_host_{mode}"));
        std::fs::write(dir.join("seen.txt"), "before").unwrap();
        std::fs::write(dir.join("unread.txt"), "old").unwrap();
        let mut child = vmm_command()
            .args(["--timeout", "60", "--mount"])
            .arg(mount_arg(&dir, "/data", Some(mode)))
            .arg("--elf")
            .arg(&prog)
            .args(["--", "host", "/data"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rvisor-vmm");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("the program ended before 'ready':\n{seen}");
            }
            seen.push_str(&line);
            if line == "ready\n" {
                break;
            }
        }
        // While the sandbox runs: a new name, and new contents of a file
        // the sandbox has not opened.
        std::fs::write(dir.join("fromhost.txt"), "made on the host").unwrap();
        std::fs::write(dir.join("unread.txt"), "rewritten on the host").unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        let status = child.wait().unwrap();
        seen.push_str(&rest);
        assert!(status.success(), "{mode}: {status}:\n{seen}");
        assert_eq!(
            seen,
            "seen.txt: before\nready\nfromhost.txt size 16\nfromhost.txt: made on the host\n\
             unread.txt: rewritten on the host\nfailures=0\n",
            "{mode}"
        );
    }
}

#[test]
fn many_files_stat_and_read_like_native_and_cached() {
    // More files than one cache generation holds: every stat and read
    // still answers like the host, in several passes.
    let prog = c_program("bench_hostfs");
    if !require_kvm() {
        return;
    }
    let dir = fresh_dir("hostfs_many");
    for i in 0..1500 {
        std::fs::write(dir.join(format!("f{i:04}")), test_bytes(100 + i)).unwrap();
    }
    let out = run_sandbox(
        &prog,
        &["/data", "1500", "2"],
        &["--mount", &mount_arg(&dir, "/data", None), "--stats"],
        None,
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let text = out.stdout_str();
    for key in ["lstat_us=", "open_close_us=", "open_read_close_us="] {
        assert!(text.contains(key), "no {key} in {text}");
    }
    // The requests went through the ring, not one exit each.
    let (line, kv) = stats_of(&out);
    let requests: u64 = kv["host_file_requests"].parse().unwrap();
    let batches: u64 = kv["fsring_batches"].parse().unwrap();
    assert!(requests > 1500 && batches > 0, "{line}");
}
