//! `rvisor-runtime`: an OCI runtime with runc's command line. Each container
//! is one rvisor sandbox: `create` starts a process (the pid in the pid
//! file) that waits on a FIFO in the container's state directory; `start`
//! releases it and it runs the VM with the rvisor-vmm library, so the
//! container's exit status is that process's, signals sent to it are
//! forwarded to the container's first process, and its stdio (conmon's
//! pipes) is the container's.

mod exec;
mod spec;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rvisor_vmm::hostfs::MountSpec;
use rvisor_vmm::hypercall::AppExit;
use rvisor_vmm::{app, vm};
use serde_json::{json, Value};
use spec::Plan;

const PROGRAM: &str = "rvisor-runtime";
const OCI_VERSION: &str = "1.0.2";
const DEFAULT_ROOT: &str = "/run/rvisor-runtime";
/// The state directory's FIFO: present while the container is created and
/// not yet started.
const FIFO: &str = "exec.fifo";
const STATE: &str = "state.json";
/// The hidden command `create` runs the sandbox process with.
const SANDBOX_INIT: &str = "sandbox-init";
/// The sandbox process's fd for the ready pipe, and what it writes there
/// once the VM is built.
const READY_FD: i32 = 3;
const READY: &str = "ok\n";

/// Flags (runc's) that take a value, by command; the rest are booleans.
fn takes_value(command: Option<&str>, flag: &str) -> bool {
    match command {
        None => matches!(flag, "root" | "log" | "log-format" | "criu" | "rootless"),
        Some("create") | Some("run") => matches!(
            flag,
            "bundle" | "b" | "console-socket" | "pid-file" | "preserve-fds"
        ),
        Some("exec") => matches!(
            flag,
            "process"
                | "p"
                | "console-socket"
                | "pid-file"
                | "cwd"
                | "env"
                | "e"
                | "user"
                | "u"
                | "additional-gids"
                | "g"
                | "cap"
                | "c"
                | "apparmor"
                | "process-label"
                | "preserve-fds"
                | "cgroup"
        ),
        Some("ps") => flag == "format" || flag == "f",
        Some(_) => false,
    }
}

/// Flags this runtime knows (the others are logged and ignored).
fn known(command: Option<&str>, flag: &str) -> bool {
    match command {
        None => matches!(
            flag,
            "root"
                | "log"
                | "log-format"
                | "systemd-cgroup"
                | "debug"
                | "version"
                | "v"
                | "help"
                | "h"
        ),
        Some("create") => matches!(
            flag,
            "bundle" | "b" | "console-socket" | "pid-file" | "no-pivot" | "no-new-keyring"
        ),
        Some("kill") => matches!(flag, "all" | "a"),
        Some("exec") => matches!(
            flag,
            "process"
                | "p"
                | "console-socket"
                | "pid-file"
                | "detach"
                | "d"
                | "cwd"
                | "env"
                | "e"
                | "user"
                | "u"
                | "tty"
                | "t"
        ),
        Some("delete") => matches!(flag, "force" | "f"),
        Some("ps") => matches!(flag, "format" | "f"),
        Some(_) => false,
    }
}

#[derive(Default)]
struct Args {
    global: Vec<(String, Option<String>)>,
    command: Option<String>,
    flags: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(argv: &[String]) -> Args {
        let mut args = Args::default();
        let mut i = 0;
        let mut only_positional = false;
        while i < argv.len() {
            let arg = &argv[i];
            i += 1;
            let is_flag = !only_positional && arg.len() > 1 && arg.starts_with('-');
            if arg == "--" && !only_positional {
                only_positional = true;
                continue;
            }
            if !is_flag {
                if args.command.is_none() {
                    args.command = Some(arg.clone());
                } else {
                    args.positional.push(arg.clone());
                }
                continue;
            }
            // runc (urfave/cli) takes -flag and --flag alike.
            let body = arg.trim_start_matches('-');
            let (name, mut value) = match body.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (body.to_owned(), None),
            };
            let command = args.command.as_deref();
            if value.is_none() && takes_value(command, &name) && i < argv.len() {
                value = Some(argv[i].clone());
                i += 1;
            }
            if command.is_none() {
                args.global.push((name, value));
            } else {
                args.flags.push((name, value));
            }
        }
        args
    }

    fn global(&self, name: &str) -> Option<&str> {
        self.global
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has_global(&self, name: &str) -> bool {
        self.global.iter().any(|(n, _)| n == name)
    }

    fn flag(&self, names: &[&str]) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))
            .and_then(|(_, v)| v.as_deref())
    }

    fn has_flag(&self, names: &[&str]) -> bool {
        self.flags
            .iter()
            .any(|(n, v)| names.contains(&n.as_str()) && v.as_deref().is_none_or(|v| v != "false"))
    }

    /// The single container ID argument.
    fn id(&self) -> Result<&str, String> {
        let command = self.command.as_deref().unwrap_or("?");
        let id = self
            .positional
            .first()
            .ok_or_else(|| format!("{command}: missing the container ID"))?;
        check_id(id)?;
        Ok(id)
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid container ID {id:?}"))
    }
}

/// The `--log` file (runc's format: text or one JSON object per line).
struct Logger {
    file: Mutex<Option<File>>,
    json: bool,
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = record.level().as_str().to_ascii_lowercase();
        let message = record.args().to_string();
        let time = rfc3339(SystemTime::now());
        let line = if self.json {
            json!({"level": level, "msg": message, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level={level} msg=\"{message}\"")
        };
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        match file.as_mut() {
            Some(file) => {
                let _ = writeln!(file, "{line}");
            }
            // Without --log only problems go to stderr (in `create` it is
            // the container's stderr).
            None if record.level() <= log::Level::Warn => {
                eprintln!("{PROGRAM}: {message}");
            }
            None => {}
        }
    }

    fn flush(&self) {}
}

/// UTC time as RFC 3339 (seconds), without a date library.
fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn init_logging(args: &Args) {
    let file = args
        .global("log")
        .and_then(|path| OpenOptions::new().create(true).append(true).open(path).ok());
    let logger = Logger {
        file: Mutex::new(file),
        json: args.global("log-format") == Some("json"),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

fn state_root(args: &Args) -> PathBuf {
    PathBuf::from(args.global("root").unwrap_or(DEFAULT_ROOT))
}

/// What /proc says about a process: alive (not a zombie) and its start time.
fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    // Field 22 of the stat line is the 20th after the name.
    fields.get(19)?.parse().ok()
}

struct Container {
    dir: PathBuf,
    state: Value,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

impl Container {
    fn load(args: &Args, id: &str) -> Result<Container, String> {
        let dir = state_root(args).join(id);
        let text = match fs::read_to_string(dir.join(STATE)) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(format!("container {id} does not exist"))
            }
            Err(e) => return Err(format!("container {id}: {e}")),
        };
        let state: Value =
            serde_json::from_str(&text).map_err(|e| format!("container {id}: bad state: {e}"))?;
        Ok(Container { dir, state })
    }

    fn pid(&self) -> i32 {
        self.state.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32
    }

    fn status(&self) -> Status {
        let pid = self.pid();
        let expected = self.state.get("pid_start_time").and_then(Value::as_u64);
        let alive = pid > 0 && expected.is_some() && process_start_time(pid) == expected;
        if !alive {
            Status::Stopped
        } else if self.dir.join(FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    fn save(&self) -> Result<(), String> {
        write_atomically(&self.dir.join(STATE), self.state.to_string().as_bytes())
    }

    fn signal(&self, signal: i32) -> Result<(), String> {
        let pid = self.pid();
        if pid <= 0 {
            return Err("the container has no process".into());
        }
        // SAFETY: kill(2) with a pid read from the state and checked alive
        // (same start time) by the caller.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(format!("kill {pid}: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Creates `guest` (a normalized absolute path) under the root `root` if
/// it is missing, as a directory (or an empty file for a `file` mount, as
/// runc does), refusing to follow symlinks on the way. A read-only root is
/// left alone; false when the mount point is missing there (except a new
/// top-level directory, which the sandbox makes in its own tmpfs).
fn make_mount_point(root: &Path, guest: &str, file: bool, read_only: bool) -> Result<bool, String> {
    let names: Vec<&str> = guest.split('/').filter(|c| !c.is_empty()).collect();
    let mut path = root.to_path_buf();
    for (i, name) in names.iter().enumerate() {
        path.push(name);
        let last_file = file && i + 1 == names.len();
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() && !last_file => {}
            Ok(meta) if meta.is_file() && last_file => {}
            // A symlink (podman's images often have /etc/resolv.conf
            // pointing elsewhere): the sandbox resolves it in its own tree.
            Ok(meta) if meta.file_type().is_symlink() && last_file => {}
            Ok(_) => {
                return Err(format!(
                    "mount point {guest}: {} is not a {}",
                    path.display(),
                    if last_file { "file" } else { "directory" }
                ))
            }
            Err(e) if e.kind() == ErrorKind::NotFound && read_only => {
                return Ok(i == 0 && names.len() == 1 && !file)
            }
            Err(e) if e.kind() == ErrorKind::NotFound && last_file => {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Err(e) => return Err(format!("mount point {guest}: {}: {e}", path.display())),
        }
    }
    Ok(true)
}

fn create(args: &Args) -> Result<(), String> {
    let id = args.id()?;
    let bundle = PathBuf::from(args.flag(&["bundle", "b"]).unwrap_or("."));
    let bundle = bundle
        .canonicalize()
        .map_err(|e| format!("bundle {}: {e}", bundle.display()))?;
    let text = fs::read_to_string(bundle.join("config.json"))
        .map_err(|e| format!("{}/config.json: {e}", bundle.display()))?;
    let config: Value = serde_json::from_str(&text).map_err(|e| format!("config.json: {e}"))?;
    let (mut plan, notes) = spec::plan(&config, &bundle)?;
    for note in notes {
        log::info!("{id}: {note}");
    }
    let mut shares = Vec::new();
    for share in plan.shares {
        let root = Path::new(&plan.root);
        if make_mount_point(root, &share.guest, share.file, plan.root_read_only)? {
            shares.push(share);
        } else {
            log::info!(
                "{id}: bind mount at {} skipped: no mount point in the read-only root",
                share.guest
            );
        }
    }
    plan.shares = shares;

    let root = state_root(args);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&root)
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let dir = root.join(id);
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(format!("container {id} already exists"))
        }
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let result = create_in(args, id, &bundle, &config, &plan, &dir);
    if result.is_err() {
        let _ = fs::remove_dir_all(&dir);
    }
    result
}

fn create_in(
    args: &Args,
    id: &str,
    bundle: &Path,
    config: &Value,
    plan: &Plan,
    dir: &Path,
) -> Result<(), String> {
    let fifo = dir.join(FIFO);
    let c_fifo = std::ffi::CString::new(fifo.as_os_str().as_bytes())
        .map_err(|_| "state path has a NUL byte".to_string())?;
    // SAFETY: mkfifo with a NUL-terminated path we own.
    if unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "mkfifo {}: {}",
            fifo.display(),
            std::io::Error::last_os_error()
        ));
    }
    let mut container = Container {
        dir: dir.to_path_buf(),
        state: json!({
            "ociVersion": OCI_VERSION,
            "id": id,
            "bundle": bundle.to_string_lossy(),
            "rootfs": plan.root,
            "created": rfc3339(SystemTime::now()),
            "annotations": config.get("annotations").cloned().unwrap_or(json!({})),
            "pid": 0,
            "plan": plan.to_json(),
        }),
    };
    container.save()?;

    // The sandbox process keeps this process's stdio (the container's),
    // or a pty's slave with `process.terminal`. It builds the VM and then
    // reports on the ready pipe (its fd 3): "ok", or why it failed.
    let (ready_read, ready_write) = pipe()?;
    let mut command = Command::new("/proc/self/exe");
    command.arg0(PROGRAM).arg(SANDBOX_INIT).arg(dir);
    let console = if plan.terminal {
        let socket = args
            .flag(&["console-socket"])
            .ok_or("process.terminal needs --console-socket")?;
        let pty = Pty::open()?;
        send_console(Path::new(socket), &pty)?;
        command
            .stdin(pty.slave.try_clone().map_err(|e| format!("pty: {e}"))?)
            .stdout(pty.slave.try_clone().map_err(|e| format!("pty: {e}"))?)
            .stderr(pty.slave.try_clone().map_err(|e| format!("pty: {e}"))?);
        Some(pty)
    } else {
        None
    };
    let ready_fd = ready_write.as_raw_fd();
    let is_terminal = console.is_some();
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only async-signal-safe functions (dup2, setsid, ioctl).
    unsafe {
        command.pre_exec(move || {
            // (dup2 onto itself would keep O_CLOEXEC.)
            let moved = if ready_fd == READY_FD {
                libc::fcntl(READY_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(ready_fd, READY_FD)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if is_terminal {
                // A session of its own with the pty as its controlling
                // terminal, as runc's init does.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start the sandbox process: {e}"))?;
    drop(command);
    drop(console);
    drop(ready_write);
    let pid = child.id() as i32;
    // Not waited for: it outlives `create`, and conmon (a subreaper)
    // collects its exit status.
    drop(child);
    let mut report = String::new();
    let _ = File::from(ready_read).read_to_string(&mut report);
    if report != READY {
        // SAFETY: kill(2) of the child we just started (it has not been
        // reaped: it is our child and we never wait for it).
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let why = if report.is_empty() {
            "the sandbox process ended before the VM was built".to_string()
        } else {
            report.trim().to_string()
        };
        return Err(why);
    }
    let start_time =
        process_start_time(pid).ok_or_else(|| "the sandbox process ended at once".to_string())?;
    container.state["pid"] = json!(pid);
    container.state["pid_start_time"] = json!(start_time);
    container.save()?;
    if let Some(pid_file) = args.flag(&["pid-file"]) {
        write_atomically(Path::new(pid_file), pid.to_string().as_bytes())?;
    }
    log::info!("{id}: created, sandbox process {pid}");
    Ok(())
}

/// The sandbox process: builds the VM, reports on the ready pipe, waits
/// for `start` before the program's first instruction, then runs the VM
/// (never returns normally; its exit status is the container's).
fn sandbox_init(dir: &Path) -> ExitCode {
    close_fds_above(READY_FD);
    // SAFETY: `create` made fd 3 the write end of the ready pipe for this
    // process; nothing else owns it.
    let ready = unsafe { File::from_raw_fd(READY_FD) };
    let mut ready = Some(ready);
    let result = sandbox_run(dir, &mut ready);
    let code = match result {
        Ok(code) => return ExitCode::from(code as u8),
        Err(failure) => {
            let message = format!("{PROGRAM}: {failure}");
            match ready.take() {
                // Not started yet: `create` reports it.
                Some(mut ready) => {
                    let _ = ready.write_all(message.as_bytes());
                }
                None => eprintln!("{message}"),
            }
            failure.exit_code()
        }
    };
    ExitCode::from(code as u8)
}

fn sandbox_run(dir: &Path, ready: &mut Option<File>) -> Result<i32, rvisor_vmm::error::Failure> {
    use rvisor_vmm::error::internal;
    let started = Instant::now();
    let text = fs::read_to_string(dir.join(STATE)).map_err(|e| internal(format!("state: {e}")))?;
    let state: Value = serde_json::from_str(&text).map_err(|e| internal(format!("state: {e}")))?;
    let plan = Plan::from_json(state.get("plan").unwrap_or(&Value::Null)).map_err(internal)?;

    let mut args: Vec<OsString> = plan.args.iter().map(OsString::from).collect();
    let command = args.remove(0);
    let mut mounts = vec![MountSpec {
        host: PathBuf::from(&plan.root),
        guest: "/".into(),
        read_only: plan.root_read_only,
        cross_mounts: true,
        tmpfs: false,
    }];
    mounts.extend(plan.shares.iter().map(|share| MountSpec {
        host: PathBuf::from(&share.host),
        guest: share.guest.clone(),
        read_only: share.read_only,
        cross_mounts: false,
        tmpfs: share.tmpfs,
    }));
    let mut rlimits = vm::host_rlimits();
    for &(resource, soft, hard) in &plan.rlimits {
        if let Some(slot) = rlimits.get_mut(resource) {
            *slot = [soft, hard];
        }
    }
    let config = vm::RunConfig {
        app: app::AppImage {
            path_as_given: command.clone(),
            canonical_path: command.into(),
            bytes: Vec::new().into(),
        },
        args,
        env: plan.env.iter().map(OsString::from).collect(),
        memory: plan.memory,
        verbose: false,
        print_syscall_table: false,
        timeout: None,
        mounts,
        root: true,
        rlimits,
        cwd: Some(OsString::from(&plan.cwd)),
        data_file: None,
        jail: Default::default(),
        net: Default::default(),
        container: vm::ContainerInit {
            uid: plan.uid,
            gid: plan.gid,
            hostname: plan.hostname.as_ref().map(|h| h.as_bytes().to_vec()),
            no_new_privs: plan.no_new_privs,
            init: true,
        },
        control_socket: Some(dir.join(exec::CONTROL)),
    };
    let fifo = dir.join(FIFO);
    // Called with the VM built, before its first instruction: `create`
    // returns, and `start` opens the FIFO for writing.
    let mut gate = || {
        if let Some(mut ready) = ready.take() {
            ready
                .write_all(READY.as_bytes())
                .map_err(|e| internal(format!("ready pipe: {e}")))?;
        }
        let mut fifo = File::open(&fifo).map_err(|e| internal(format!("fifo: {e}")))?;
        let mut byte = [0u8; 1];
        match fifo.read(&mut byte) {
            Ok(1) => Ok(()),
            _ => Err(internal("the container was not started")),
        }
    };
    let outcome = vm::run_gated(&config, started, &mut gate)?;
    Ok(match outcome.exit {
        AppExit::Exited(code) => code as i32,
        AppExit::Signaled(signal) => 128 + signal as i32,
    })
}

/// Closes every descriptor above `fd` (the sandbox process keeps only its
/// stdio and the ready pipe).
fn close_fds_above(fd: i32) {
    // SAFETY: close_range on descriptors nothing in this process uses (it
    // runs first, before anything is opened).
    if unsafe { libc::syscall(libc::SYS_close_range, fd as u32 + 1, u32::MAX, 0u32) } == 0 {
        return;
    }
    let fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&n| n > fd)
                .collect()
        })
        .unwrap_or_default();
    for n in fds {
        // SAFETY: as above; the directory's own fd is closed by then (EBADF).
        unsafe { libc::close(n) };
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: two fresh fds owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pseudo-terminal pair for `process.terminal`.
struct Pty {
    master: OwnedFd,
    slave: File,
    name: String,
}

impl Pty {
    fn open() -> Result<Pty, String> {
        let master = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open("/dev/ptmx")
            .map_err(|e| format!("/dev/ptmx: {e}"))?;
        let fd = master.as_raw_fd();
        let mut number: libc::c_uint = 0;
        let unlock: libc::c_int = 0;
        // SAFETY: TIOCSPTLCK reads an int, TIOCGPTN writes an unsigned int;
        // both point at locals of those types.
        let ok = unsafe {
            libc::ioctl(fd, libc::TIOCSPTLCK, &unlock) == 0
                && libc::ioctl(fd, libc::TIOCGPTN, &mut number) == 0
        };
        if !ok {
            return Err(format!("pty: {}", std::io::Error::last_os_error()));
        }
        let name = format!("/dev/pts/{number}");
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&name)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(Pty {
            master: master.into(),
            slave,
            name,
        })
    }
}

/// Sends the pty's master to the console socket as runc does: one message
/// whose data is the pty's name and whose SCM_RIGHTS carries the fd.
fn send_console(socket: &Path, pty: &Pty) -> Result<(), String> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("console socket {}: {e}", socket.display()))?;
    let name = pty.name.as_bytes();
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; every pointer set below points at
    // live locals (`iov`, `control`) that outlive the sendmsg call, and the
    // CMSG_* macros stay inside `control` (sized by CMSG_SPACE for one fd).
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(
            libc::CMSG_DATA(cmsg).cast::<libc::c_int>(),
            pty.master.as_raw_fd(),
        );
        libc::sendmsg(stream.as_raw_fd(), &msg, 0)
    };
    if sent < 0 {
        return Err(format!(
            "console socket {}: {}",
            socket.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn start(args: &Args) -> Result<(), String> {
    let id = args.id()?;
    let container = Container::load(args, id)?;
    match container.status() {
        Status::Created => {}
        status => {
            return Err(format!(
                "cannot start container {id}: it is {}",
                status.name()
            ))
        }
    }
    let fifo = container.dir.join(FIFO);
    // The sandbox process may not have opened the FIFO yet: a non-blocking
    // open fails (ENXIO) until it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut writer = loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(file) => break file,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if container.status() == Status::Stopped {
                    return Err(format!("container {id}: the sandbox process has ended"));
                }
                if Instant::now() > deadline {
                    return Err(format!("container {id}: the sandbox process does not wait"));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(format!("{}: {e}", fifo.display())),
        }
    };
    writer
        .write_all(b"0")
        .map_err(|e| format!("cannot start container {id}: {e}"))?;
    drop(writer);
    let _ = fs::remove_file(&fifo);
    log::info!("{id}: started");
    Ok(())
}

fn state(args: &Args) -> Result<(), String> {
    let id = args.id()?;
    let container = Container::load(args, id)?;
    let status = container.status();
    let mut out = json!({
        "ociVersion": OCI_VERSION,
        "id": id,
        "status": status.name(),
        "pid": if status == Status::Stopped { 0 } else { container.pid() },
        "bundle": container.state.get("bundle").cloned().unwrap_or(json!("")),
        "rootfs": container.state.get("rootfs").cloned().unwrap_or(json!("")),
        "created": container.state.get("created").cloned().unwrap_or(json!("")),
        "owner": "",
    });
    if let Some(annotations) = container.state.get("annotations") {
        out["annotations"] = annotations.clone();
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
    );
    Ok(())
}

const SIGNALS: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

fn parse_signal(s: &str) -> Result<i32, String> {
    if let Ok(number) = s.parse::<i32>() {
        if (1..=64).contains(&number) {
            return Ok(number);
        }
        return Err(format!("invalid signal {s:?}"));
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
        .ok_or_else(|| format!("invalid signal {s:?}"))
}

fn kill(args: &Args) -> Result<(), String> {
    let id = args.id()?;
    let signal = parse_signal(args.positional.get(1).map_or("TERM", String::as_str))?;
    let container = Container::load(args, id)?;
    if container.status() == Status::Stopped {
        return Err(format!("container {id} is not running"));
    }
    // --all is the same: the sandbox process is the container's only host
    // process (the VMM forwards the signal to the first process inside).
    container.signal(signal)?;
    log::info!("{id}: signal {signal} sent");
    Ok(())
}

fn delete(args: &Args) -> Result<(), String> {
    let id = args.id()?;
    let force = args.has_flag(&["force", "f"]);
    let container = match Container::load(args, id) {
        Ok(container) => container,
        Err(_) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    match container.status() {
        Status::Stopped => {}
        Status::Running if !force => {
            return Err(format!(
                "cannot delete container {id}: it is running (use --force)"
            ))
        }
        // Created (runc kills it too) or forced.
        _ => {
            container.signal(libc::SIGKILL)?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while container.status() != Status::Stopped {
                if Instant::now() > deadline {
                    return Err(format!("container {id}: the sandbox process does not end"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    fs::remove_dir_all(&container.dir).map_err(|e| format!("{}: {e}", container.dir.display()))?;
    log::info!("{id}: deleted");
    Ok(())
}

/// `ps [--format table|json] ID [PS_ARGS...]`: the container's host
/// processes. A sandbox has one, the VMM (every process of the container
/// lives inside it, invisible to the host); runc lists the host pids of
/// the container's processes, so this lists the VMM's pid.
fn ps(args: &Args) -> Result<(), String> {
    let id = args.id()?;
    let container = Container::load(args, id)?;
    let pids: Vec<i32> = match container.status() {
        Status::Stopped => Vec::new(),
        _ => vec![container.pid()],
    };
    match args.flag(&["format", "f"]).unwrap_or("table") {
        "json" => {
            println!("{}", json!(pids));
            Ok(())
        }
        "table" => {
            // runc runs ps(1) with the given options (default -ef) and keeps
            // the header and the container's lines.
            let options: Vec<&str> = match args.positional.get(1..) {
                Some(rest) if !rest.is_empty() => rest.iter().map(String::as_str).collect(),
                _ => vec!["-ef"],
            };
            let out = Command::new("ps")
                .args(&options)
                .output()
                .map_err(|e| format!("ps: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let column = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or("ps: the output has no PID column")?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(column)
                    .and_then(|p| p.parse().ok());
                if pid.is_some_and(|p: i32| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        other => Err(format!("ps: invalid format {other:?}")),
    }
}

fn features() -> Result<(), String> {
    let out = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw"],
        "linux": {
            "namespaces": [],
            "capabilities": [],
            "cgroup": {"v1": false, "v2": false, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {
            "io.github.rvisor.sandbox": "kvm"
        }
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn version() {
    println!(
        "{PROGRAM} version {}\nspec: {OCI_VERSION}",
        env!("CARGO_PKG_VERSION")
    );
}

fn main() -> ExitCode {
    let argv: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(argv) => argv,
        Err(_) => {
            eprintln!("{PROGRAM}: arguments must be UTF-8");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse(&argv);
    if args.command.as_deref() == Some(SANDBOX_INIT) {
        return match args.positional.first() {
            Some(dir) => sandbox_init(Path::new(dir)),
            None => ExitCode::FAILURE,
        };
    }
    init_logging(&args);
    let command = args.command.as_deref();
    for (name, _) in args.global.iter().chain(args.flags.iter()) {
        let scope = if args.global.iter().any(|(n, _)| n == name) {
            None
        } else {
            command
        };
        if !known(scope, name) {
            log::info!("ignoring the flag --{name} (not used by rvisor)");
        }
    }
    if args.has_global("version") || args.has_global("v") {
        version();
        return ExitCode::SUCCESS;
    }
    let result = match command {
        Some("create") => create(&args),
        Some("start") => start(&args),
        Some("state") => state(&args),
        Some("kill") => kill(&args),
        Some("delete") => delete(&args),
        Some("ps") => ps(&args),
        Some("exec") => match exec::exec(&args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Some("features") => features(),
        Some("--version") | Some("version") => {
            version();
            Ok(())
        }
        Some(other) => Err(format!("{other}: not supported by {PROGRAM} yet")),
        None => Err(
            "usage: rvisor-runtime [--root DIR] [--log FILE] COMMAND [ARGS] \
             (create, start, state, kill, delete, exec, ps, features)"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!("{message}");
            if args.global("log").is_some() {
                eprintln!("{PROGRAM}: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_podman_create() {
        let args = Args::parse(&argv(
            "--root /run/x --log /l --log-format=json --systemd-cgroup create --bundle /b --pid-file /p --no-new-keyring ctr",
        ));
        assert_eq!(args.global("root"), Some("/run/x"));
        assert_eq!(args.global("log-format"), Some("json"));
        assert!(args.has_global("systemd-cgroup"));
        assert_eq!(args.command.as_deref(), Some("create"));
        assert_eq!(args.flag(&["bundle", "b"]), Some("/b"));
        assert_eq!(args.flag(&["pid-file"]), Some("/p"));
        assert_eq!(args.id().unwrap(), "ctr");
    }

    #[test]
    fn kill_and_signals() {
        let args = Args::parse(&argv("kill --all ctr KILL"));
        assert!(args.has_flag(&["all", "a"]));
        assert_eq!(args.positional, ["ctr", "KILL"]);
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("15"), Ok(15));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("BOGUS").is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("abc-1.2_x").is_ok());
        assert!(check_id("../x").is_err());
        assert!(check_id("..").is_err());
        assert!(check_id("").is_err());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661)),
            "2000-02-29T01:01:01Z"
        );
    }
}
