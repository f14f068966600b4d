//! Linux ABI conformance, memory: file mappings (MAP_PRIVATE copy-on-write,
//! MAP_SHARED written back, msync), mremap, MAP_FIXED(_NOREPLACE), munmap
//! holes, mprotect, shared anonymous memory, demand paging, brk, per-area
//! flags (mlock, madvise, mseal, MAP_GROWSDOWN), and ENOMEM when guest
//! memory runs out.

use rvisor_tests::abi::{fresh_dir, mount_arg};
use rvisor_tests::*;

#[test]
fn mm_file_mappings() {
    let prog = c_program("mm_file");
    if !require_kvm() {
        return;
    }
    let work = fresh_dir("mm_file").join("w");
    let native = run_native(&prog, &[work.to_str().unwrap()], None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "mm_file fails natively (fix the program):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(&prog, &["/tmp/mm"], &[], None);
    assert_same(&native, &sandbox, Compare::All);
}

/// The same checks on a `--mount`ed host directory: shared pages live in the
/// sentry's page cache for host files, overlaid on reads, updated by writes
/// and written back to the host file.
#[test]
fn mm_file_mappings_on_a_shared_directory() {
    let prog = c_program("mm_file");
    if !require_kvm() {
        return;
    }
    let native_dir = fresh_dir("mm_file_host_native");
    let native = run_native(&prog, &[native_dir.join("w").to_str().unwrap()], None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "mm_file fails natively (fix the program):\n{}",
        native.describe()
    );
    let shared = fresh_dir("mm_file_host_sandbox");
    let mount = mount_arg(&shared, "/shared", Some("rw"));
    let sandbox = run_sandbox(&prog, &["/shared/w"], &["--mount", &mount], None);
    assert_same(&native, &sandbox, Compare::All);
}

/// Large anonymous memory (mapped with 2 MiB blocks where the platform
/// allows): partial munmap, mprotect and MADV_DONTNEED inside a block, a
/// block moved by mremap, fork, /proc/self/maps and reuse of freed blocks,
/// with musl and glibc, against native.
#[test]
fn mm_large_anonymous_memory() {
    for prog in [c_program("mm_large"), glibc_program("mm_large")] {
        if !require_kvm() {
            return;
        }
        let native = run_native(&prog, NO_ARGS, None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "mm_large fails natively (fix the program):\n{}",
            native.describe()
        );
        let sandbox = run_sandbox(&prog, NO_ARGS, &["--memory", "512M"], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}

/// Per-area flags: mlock/mlock2/mlockall (VmLck, smaps, mincore),
/// MAP_LOCKED and MAP_POPULATE (pagemap), madvise's per-area rules
/// (DONTNEED keeps shared data, WIPEONFORK, DONTFORK, REMOVE, POPULATE),
/// mseal, MAP_GROWSDOWN, /dev/zero mappings, remap_file_pages, mincore of
/// file pages, fsync/sync_file_range/readahead of what has no pages; with
/// musl and glibc, against native.
#[test]
fn mm_area_flags() {
    for prog in [c_program("mm_flags"), glibc_program("mm_flags")] {
        if !require_kvm() {
            return;
        }
        let native = run_native(&prog, NO_ARGS, None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "mm_flags fails natively (fix the program):\n{}",
            native.describe()
        );
        let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}

#[test]
fn mm_file_mappings_with_more_memory() {
    let prog = c_program("mm_file");
    if !require_kvm() {
        return;
    }
    let work = fresh_dir("mm_file_1g").join("w");
    let native = run_native(&prog, &[work.to_str().unwrap()], None);
    let sandbox = run_sandbox(&prog, &["/tmp/mm"], &["--memory", "1G"], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn malloc_fails_cleanly_when_guest_memory_runs_out() {
    let prog = c_program("oom");
    if !require_kvm() {
        return;
    }
    // Within the limit: same as native.
    let native = run_native(&prog, &["16"], None);
    let sandbox = run_sandbox(&prog, &["16"], &[], None);
    assert_same(&native, &sandbox, Compare::All);
    // Far beyond --memory 32M: malloc returns NULL with ENOMEM, the program
    // is not killed, what it wrote is intact, and freeing makes room again.
    let sandbox = run_sandbox(&prog, &["1024"], &["--memory", "32M"], None);
    assert_no_panic(&sandbox);
    assert_eq!(
        sandbox.stdout_str(),
        "allocated some MiB, malloc returned NULL, errno=ENOMEM\nmemory intact: yes\nmalloc after free: ok\n",
        "expected a clean ENOMEM from malloc under --memory 32M:\n{}",
        sandbox.describe()
    );
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
}

#[test]
fn default_memory_is_256m() {
    // 200 MiB fit in the default 256 MiB guest; 400 MiB do not.
    let prog = c_program("oom");
    if !require_kvm() {
        return;
    }
    let sandbox = run_sandbox(&prog, &["200"], &[], None);
    assert_no_panic(&sandbox);
    assert_eq!(
        sandbox.stdout_str(),
        "allocated 200 MiB, no failure up to the limit\nmemory intact: yes\nmalloc after free: ok\n",
        "{}",
        sandbox.describe()
    );
    let sandbox = run_sandbox(&prog, &["400"], &[], None);
    assert_no_panic(&sandbox);
    assert!(
        sandbox
            .stdout_str()
            .starts_with("allocated some MiB, malloc returned NULL, errno=ENOMEM\n"),
        "400 MiB should not fit in the default 256 MiB:\n{}",
        sandbox.describe()
    );
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
}

/// fork when memory is short: in a 64 MiB sandbox a process holding 44 MiB
/// forks eight children that each write 4 MiB of it. Copying the pages at
/// fork would not fit; the sentry shares them copy-on-write instead, and
/// parent and children still see only their own writes.
#[test]
fn fork_copy_on_write_when_memory_is_short() {
    let prog = c_program("fork_cow");
    if !require_kvm() {
        return;
    }
    assert_conforms(
        &prog,
        &["44", "8", "4"],
        &["44", "8", "4"],
        &["--memory", "64M"],
        Compare::All,
    );
}

/// Frame reference counts: rounds of fork copy-on-write (2 MiB blocks
/// split, unmapped in part and protected in a child), mremap, tmpfs pages
/// mapped shared and private then punched and truncated, a memfd shared
/// across fork, and pipes, each undone; free memory after the last round
/// is what it was after the first (no frame leaked), and nothing panics
/// (no frame released twice). Sandbox only: the host's free memory moves
/// on its own.
#[test]
fn frames_are_not_leaked() {
    let prog = c_program("frame_leak");
    if !require_kvm() {
        return;
    }
    // Natively the program must run its rounds; whether the host's free
    // memory held still meanwhile is the host's business.
    let native = run_native(&prog, &["2"], None);
    assert!(
        native.code() == 0
            || (native.code() == 1 && native.stdout_str().starts_with("free memory fell by")),
        "{}",
        native.describe()
    );
    let sandbox = run_sandbox(&prog, &["12"], &[], None);
    assert_no_panic(&sandbox);
    assert_eq!(sandbox.stdout_str(), "ok\n", "{}", sandbox.describe());
    assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
}

/// userfaultfd: the API handshake and its errors, missing-page faults
/// handled by another thread (poll, read, UFFDIO_COPY and ZEROPAGE),
/// UNREGISTER, fork, UFFD_FEATURE_SIGBUS, closing the descriptor, write
/// protection, MINOR faults on a memfd (UFFDIO_CONTINUE),
/// /dev/userfaultfd, and mremap(MREMAP_DONTUNMAP); against native (run as
/// root: vm.unprivileged_userfaultfd may be 0).
#[test]
fn userfaultfd_missing_fault_copy() {
    for prog in [c_program("uffd"), glibc_program("uffd")] {
        if !require_kvm() {
            return;
        }
        let native = run_native(&prog, NO_ARGS, None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "uffd fails natively (fix the program):\n{}",
            native.describe()
        );
        let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}

/// fork with a large heap (musl: brk; glibc: mmap) and a 4 MiB mapping:
/// children see the parent's data and their own writes, the parent keeps
/// its own (as natively); and the memory is shared at fork, not copied:
/// the heap starts on a 2 MiB boundary and large mappings are placed on
/// one, so all of it but a few pages maps as blocks (`fork_copied_kb`
/// was over 2 MiB a fork with an unaligned 16 MiB heap).
#[test]
fn a_large_heap_is_shared_at_fork_not_copied() {
    let kids = 8u64;
    for prog in [c_program("fork_heap"), glibc_program("fork_heap")] {
        if !require_kvm() {
            return;
        }
        let args = [kids.to_string()];
        let native = run_native(&prog, &args, None);
        assert_eq!(native.code(), 0, "{}", native.describe());
        let sandbox = run_sandbox(&prog, &args, &["--stats"], None);
        assert_no_panic(&sandbox);
        assert_eq!(
            sandbox.stdout_str(),
            native.stdout_str(),
            "{}",
            sandbox.describe()
        );
        assert_eq!(sandbox.code(), 0, "{}", sandbox.describe());
        let (line, kv) = stats_of(&sandbox);
        let copied: u64 = kv["fork_copied_kb"].parse().unwrap();
        assert!(
            copied / kids < 512,
            "{} KiB copied per fork ({}): {line}",
            copied / kids,
            prog.display()
        );
    }
}
