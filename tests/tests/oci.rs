//! `rvisor-runtime` under Debian's podman: `podman --runtime
//! target/release/rvisor-runtime run --rootfs DIR ...` runs the container in
//! an rvisor sandbox. Each case runs the same podman command with runc too
//! and compares stdout and exit status.
//!
//! podman keeps its state in a private directory of the target dir
//! (`--root`, `--runroot`, vfs storage, no network), so the host's podman
//! state is left alone. On this machine podman needs the cgroupfs manager
//! and ulimits below the host's hard limits (its defaults are higher).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rvisor_tests::*;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether podman (rootful, with conmon and runc) can run here; skips
/// loudly otherwise (fails under CI=true).
fn podman_ready() -> bool {
    if !require_kvm() {
        return false;
    }
    let problem = if !have_tool("podman") || !have_tool("conmon") || !have_tool("runc") {
        Some("podman, conmon or runc is not installed (scripts/setup.sh installs them)".to_string())
    } else if unsafe_geteuid() != 0 {
        Some("podman runs rootful here: the test must run as root".to_string())
    } else {
        None
    };
    match problem {
        None => true,
        Some(problem) if ci() => panic!("{problem}, and CI=true"),
        Some(problem) => {
            loud(&format!("\n*** SKIPPED: {problem} ***\n"));
            false
        }
    }
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The private podman state and the root file systems the cases use.
struct Setup {
    state: PathBuf,
    /// busybox (static) and bash with exactly the libraries ldd names.
    rootfs: PathBuf,
    ulimits: [String; 2],
}

fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit we own.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut limit) }, 0);
    limit.rlim_max
}

fn copy_with_libraries(program: &Path, rootfs: &Path) {
    let dest = rootfs.join(program.strip_prefix("/").unwrap());
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(program, &dest).unwrap();
    let ldd = Command::new("ldd").arg(program).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)".
        for word in line.split_whitespace().filter(|w| w.starts_with('/')) {
            let lib = Path::new(word);
            let dest = rootfs.join(lib.strip_prefix("/").unwrap());
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            // Follows symlinks: the root holds the files themselves.
            fs::copy(lib, &dest).unwrap();
        }
    }
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let base = target_dir().join("oci-test");
        let _ = fs::remove_dir_all(base.join("rootfs"));
        let rootfs = base.join("rootfs");
        for dir in ["bin", "tmp"] {
            fs::create_dir_all(rootfs.join(dir)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        copy_with_libraries(Path::new("/bin/bash"), &rootfs);
        let nofile = hard_limit(libc::RLIMIT_NOFILE).min(1024);
        let nproc = hard_limit(libc::RLIMIT_NPROC).min(4096);
        Setup {
            state: base.join("podman"),
            rootfs,
            ulimits: [
                format!("nofile={nofile}:{nofile}"),
                format!("nproc={nproc}:{nproc}"),
            ],
        }
    })
}

fn podman(runtime: &Path) -> Command {
    let setup = setup();
    let mut cmd = Command::new("podman");
    let state = |name: &str| setup.state.join(name).to_string_lossy().into_owned();
    cmd.args(["--cgroup-manager", "cgroupfs", "--storage-driver", "vfs"])
        .args(["--events-backend", "file"])
        .args(["--root", &state("storage"), "--runroot", &state("run")])
        .args(["--tmpdir", &state("tmp")])
        .arg("--runtime")
        .arg(runtime);
    cmd
}

/// `podman run --rm` with `options` and `command` under `runtime`.
fn podman_run(runtime: &Path, options: &[&str], command: &[&str]) -> RunOutput {
    let setup = setup();
    let mut cmd = podman(runtime);
    cmd.args(["run", "--rm", "--network", "none"]);
    for ulimit in &setup.ulimits {
        cmd.args(["--ulimit", ulimit]);
    }
    cmd.args(options)
        .arg("--rootfs")
        .arg(&setup.rootfs)
        .args(command);
    run_command(&mut cmd, None)
}

/// The same podman run under runc and rvisor-runtime: stdout and exit
/// status must match.
#[track_caller]
fn same_as_runc(options: &[&str], command: &[&str]) -> RunOutput {
    let runc = podman_run(Path::new("runc"), options, command);
    let rvisor = podman_run(&rvisor_runtime(), options, command);
    assert_eq!(
        (runc.stdout_str(), runc.code()),
        (rvisor.stdout_str(), rvisor.code()),
        "runc:\n{}\nrvisor-runtime:\n{}",
        runc.describe(),
        rvisor.describe()
    );
    rvisor
}

#[test]
fn echo_hello() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(&[], &["/bin/busybox", "echo", "hello"]);
    assert_eq!(out.stdout_str(), "hello\n", "{out:?}");
    assert_eq!(out.code(), 0, "{out:?}");
    // And it ran in rvisor's sandbox, not on the host kernel.
    let uname = podman_run(&rvisor_runtime(), &[], &["/bin/busybox", "uname", "-r"]);
    assert!(uname.stdout_str().trim().ends_with("-rvisor"), "{uname:?}");
}

#[test]
fn exit_status_propagates() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(&[], &["/bin/busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out:?}");
}

#[test]
fn environment_and_workdir() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(
        &["-e", "X=1", "-w", "/tmp"],
        &["/bin/busybox", "sh", "-c", "echo X=$X; pwd"],
    );
    assert_eq!(out.stdout_str(), "X=1\n/tmp\n", "{out:?}");
}

#[test]
fn read_only_volume() {
    if !podman_ready() {
        return;
    }
    let data = target_dir().join("oci-test").join("volume");
    let _ = fs::remove_dir_all(&data);
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("f"), "from the host\n").unwrap();
    let volume = format!("{}:/data:ro", data.display());
    let script = "cat /data/f; echo x > /data/g; echo write=$?";
    let out = same_as_runc(&["-v", &volume], &["/bin/busybox", "sh", "-c", script]);
    assert_eq!(out.stdout_str(), "from the host\nwrite=1\n", "{out:?}");
    assert!(!data.join("g").exists(), "a read-only volume was written");
}

#[test]
fn dynamic_bash_from_the_rootfs() {
    if !podman_ready() {
        return;
    }
    let out = same_as_runc(
        &[],
        &[
            "/bin/bash",
            "-c",
            "echo \"bash ${BASH_VERSINFO[0]}\"; exit 4",
        ],
    );
    assert!(out.stdout_str().starts_with("bash "), "{out:?}");
    assert_eq!(out.code(), 4, "{out:?}");
}

#[test]
fn detached_container_stops() {
    if !podman_ready() {
        return;
    }
    let runtime = rvisor_runtime();
    let setup = setup();
    let mut run = podman(&runtime);
    run.args(["run", "-d", "--network", "none"]);
    for ulimit in &setup.ulimits {
        run.args(["--ulimit", ulimit]);
    }
    run.arg("--rootfs")
        .arg(&setup.rootfs)
        .args(["/bin/busybox", "sleep", "1000"]);
    let started = run_command(&mut run, None);
    assert_eq!(started.code(), 0, "{started:?}");
    let id = started.stdout_str().trim().to_string();
    let status = |id: &str| {
        let out = run_command(
            podman(&runtime).args(["inspect", "--format", "{{.State.Status}}", id]),
            None,
        );
        out.stdout_str().trim().to_string()
    };
    assert_eq!(status(&id), "running");
    let stop = run_command(podman(&runtime).args(["stop", "-t", "20", &id]), None);
    assert_eq!(stop.code(), 0, "{stop:?}");
    assert_eq!(status(&id), "exited");
    let rm = run_command(podman(&runtime).args(["rm", &id]), None);
    assert_eq!(rm.code(), 0, "{rm:?}");
}
