//! `rvisor-runtime exec`: a new process in a running container, as
//! `podman exec` and `ctr task exec` ask for it (runc's command line).
//!
//! The container's sandbox process listens on `control.sock` in the
//! state directory (`rvisor_vmm::exec`). This command sends it the
//! process (args, env, cwd, user) and its stdio descriptors, and then
//! waits for the exit status, which becomes its own. With `--detach` a
//! small holder process waits instead, and the pid file names it: conmon
//! and containerd's shim collect the status by waiting for that pid, as
//! they would for runc's exec'd process.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use boards::bootinfo::TERMIOS_SIZE;
use boards::exec::{TtySettings, EXEC_FLAG_NO_NEW_PRIVS};
use serde_json::Value;
use vmm_sys_util::sock_ctrl_msg::ScmSocket;

use crate::{spec, write_atomically, Args, Container, Pty, Status};

/// The control socket's name in the state directory.
pub const CONTROL: &str = "control.sock";
/// The status reported when the sandbox ended before the process did
/// (its processes are killed with it: 128 + SIGKILL).
const KILLED_WITH_THE_SANDBOX: i32 = 137;

/// The process to run: `--process FILE` (an OCI process object), or the
/// arguments after the ID with `--env`, `--cwd`, `--user`, `--tty`.
fn process_spec(args: &Args) -> Result<spec::ProcessSpec, String> {
    let value: Value = match args.flag(&["process", "p"]) {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
        }
        None => {
            let env: Vec<&str> = args
                .flags
                .iter()
                .filter(|(n, _)| n == "env" || n == "e")
                .filter_map(|(_, v)| v.as_deref())
                .collect();
            let user = args.flag(&["user", "u"]).unwrap_or("0:0");
            let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
            let number = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("--user: numeric uid[:gid] expected, got {user:?}"))
            };
            serde_json::json!({
                "args": args.positional.get(1..).unwrap_or_default(),
                "env": env,
                "cwd": args.flag(&["cwd"]).unwrap_or("/"),
                "user": { "uid": number(uid)?, "gid": number(gid)? },
                "terminal": args.has_flag(&["tty", "t"]),
            })
        }
    };
    let mut notes = Vec::new();
    let process = spec::process(&value, &mut notes)?;
    for note in notes {
        log::info!("exec: {note}");
    }
    Ok(process)
}

/// The settings of the terminal `fd` (kernel termios and window size).
fn tty_settings(fd: RawFd) -> Result<TtySettings, String> {
    let mut termios = [0u8; 64];
    let mut winsize = [0u16; 4];
    // SAFETY: TCGETS writes a kernel struct termios (36 bytes) into a
    // 64-byte buffer, TIOCGWINSZ a struct winsize (four u16).
    let ok = unsafe {
        libc::ioctl(fd, libc::TCGETS, termios.as_mut_ptr()) == 0
            && libc::ioctl(fd, libc::TIOCGWINSZ, winsize.as_mut_ptr()) == 0
    };
    if !ok {
        return Err(format!("pty: {}", std::io::Error::last_os_error()));
    }
    Ok(TtySettings {
        termios: termios[..TERMIOS_SIZE].try_into().expect("36 bytes"),
        winsize,
    })
}

fn encode(process: &spec::ProcessSpec, tty: Option<&TtySettings>) -> Result<Vec<u8>, String> {
    let args: Vec<&[u8]> = process.args.iter().map(|a| a.as_bytes()).collect();
    let env: Vec<&[u8]> = process.env.iter().map(|e| e.as_bytes()).collect();
    let cwd = process.cwd.as_bytes();
    let flags = if process.no_new_privs {
        EXEC_FLAG_NO_NEW_PRIVS
    } else {
        0
    };
    let len = boards::exec::encoded_len(tty.is_some(), cwd, args.iter().chain(&env).copied());
    if len > boards::exec::MAX_EXEC_REQUEST {
        return Err("the process's arguments and environment are too large".into());
    }
    let mut out = vec![0u8; len];
    boards::exec::encode(
        &mut out,
        (process.uid, process.gid, flags),
        tty,
        cwd,
        &args,
        &env,
    )
    .ok_or("a string of the process holds a NUL byte")?;
    Ok(out)
}

/// Sends the request over the control socket; returns the connection on
/// which the status will come.
fn send(dir: &Path, request: &[u8], stdio: [RawFd; 3]) -> Result<UnixStream, String> {
    let path = dir.join(CONTROL);
    let mut stream = UnixStream::connect(&path).map_err(|e| {
        format!(
            "the container's sandbox does not answer ({}: {e})",
            path.display()
        )
    })?;
    let len = (request.len() as u32).to_le_bytes();
    stream
        .send_with_fds(&[&len[..]], &stdio)
        .map_err(|e| format!("sending the request: {e}"))?;
    stream
        .write_all(request)
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .map_err(|e| format!("the sandbox did not take the request: {e}"))?;
    if &answer != rvisor_vmm::exec::ACCEPTED {
        let mut why = String::new();
        let _ = stream.read_to_string(&mut why);
        return Err(format!("the sandbox refused the request: {why}"));
    }
    Ok(stream)
}

/// Waits for the process's status on the connection.
fn wait(mut stream: UnixStream) -> i32 {
    let mut status = [0u8; 4];
    match stream.read_exact(&mut status) {
        Ok(()) => i32::from_le_bytes(status),
        Err(_) => KILLED_WITH_THE_SANDBOX,
    }
}

pub fn exec(args: &Args) -> Result<ExitCode, String> {
    let id = args.id()?;
    let container = Container::load(args, id)?;
    if container.status() == Status::Stopped {
        return Err(format!("cannot exec in a stopped container {id}"));
    }
    let process = process_spec(args)?;
    // The process's stdio: ours (conmon's or the shim's pipes), or a new
    // pty's slave whose master goes to the console socket.
    let pty = if process.terminal {
        let socket = args
            .flag(&["console-socket"])
            .ok_or("process.terminal needs --console-socket")?;
        let pty = Pty::open()?;
        crate::send_console(Path::new(socket), &pty)?;
        Some(pty)
    } else {
        None
    };
    let (stdio, tty) = match &pty {
        Some(pty) => {
            let fd = pty.slave.as_raw_fd();
            ([fd; 3], Some(tty_settings(fd)?))
        }
        None => ([0, 1, 2], None),
    };
    let request = encode(&process, tty.as_ref())?;
    let stream = send(&container.dir, &request, stdio)?;
    drop(pty);
    log::info!("{id}: exec {:?} started", process.args);
    if !args.has_flag(&["detach", "d"]) {
        if let Some(pid_file) = args.flag(&["pid-file"]) {
            write_atomically(
                Path::new(pid_file),
                std::process::id().to_string().as_bytes(),
            )?;
        }
        return Ok(ExitCode::from(wait(stream) as u8));
    }
    // SAFETY: this process has one thread; the child only reads from the
    // socket, replaces its stdio and exits.
    let holder = unsafe { libc::fork() };
    if holder < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if holder == 0 {
        // The holder keeps none of the caller's stdio open (the sandbox
        // holds its own copies until the process ends).
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            for fd in 0..3 {
                // SAFETY: dup2 onto our own stdio descriptors.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        let code = wait(stream);
        // SAFETY: ends the holder at once (no destructors of the parent's
        // state run twice).
        unsafe { libc::_exit(code) };
    }
    drop(stream);
    if let Some(pid_file) = args.flag(&["pid-file"]) {
        write_atomically(Path::new(pid_file), holder.to_string().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
