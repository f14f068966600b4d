//! The host's network (`--net`, `--net-allow`, `--publish`): busybox wget
//! and nc against servers this test starts on the host's 127.0.0.1 (the
//! same commands run natively give the expected output), their refusal
//! without `--net` and by `--net-allow`, UDP through host sockets, the
//! host's /etc/hosts for name lookups, and servers inside the sandbox
//! (busybox httpd, a C echo server) reached from the host through
//! `--publish`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvisor_tests::abi::*;
use rvisor_tests::*;

/// A one-page HTTP server on 127.0.0.1 (a fresh port): answers every GET
/// with `body`; counts the connections it accepted.
fn http_server(body: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes());
            });
        }
    });
    (port, hits)
}

fn wget(port: u16) -> Vec<String> {
    vec![
        "wget".into(),
        "-q".into(),
        "-O".into(),
        "-".into(),
        format!("http://127.0.0.1:{port}/index.html"),
    ]
}

fn sandbox(net_args: &[&str], prog: &std::path::Path, args: &[String]) -> RunOutput {
    let mut cmd = vmm_command();
    cmd.args(net_args)
        .arg("--elf")
        .arg(prog)
        .arg("--")
        .args(args);
    run_command(&mut cmd, None)
}

#[test]
fn wget_reaches_a_host_server_with_net() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let (port, hits) = http_server("hello from the host\n");
    let native = run_native(&bb, &wget(port), None);
    assert_eq!(native.code(), 0, "native: {native:?}");
    let out = sandbox(&["--net"], &bb, &wget(port));
    assert_no_panic(&out);
    assert_same(&native, &out, Compare::All);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn without_net_the_host_is_unreachable() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let (port, hits) = http_server("nobody should read this\n");
    // The sandbox's own 127.0.0.1 has no server on the port: refused.
    let out = sandbox(&[], &bb, &wget(port));
    assert_no_panic(&out);
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Connection refused"),
        "{out:?}"
    );
    // Other destinations: no route (ENETUNREACH), as on a host with only lo.
    let args = vec![
        "wget".into(),
        "-q".into(),
        "-O".into(),
        "-".into(),
        "http://192.0.2.1:9/".into(),
    ];
    let out = sandbox(&[], &bb, &args);
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unreachable"),
        "{out:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the host server was reached"
    );
}

#[test]
fn net_allow_restricts_destinations() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let (port, hits) = http_server("allowed\n");
    let out = sandbox(&["--net", "--net-allow", "10.0.0.0/8"], &bb, &wget(port));
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"),
        "{out:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let other_port = format!("127.0.0.1:{}", port.wrapping_add(1).max(1));
    let out = sandbox(&["--net", "--net-allow", &other_port], &bb, &wget(port));
    assert_ne!(out.code(), 0, "{out:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let exact = format!("127.0.0.0/8:{port}");
    let out = sandbox(&["--net", "--net-allow", &exact], &bb, &wget(port));
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, b"allowed\n");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A host server that answers each connection with what it read,
/// upper-cased, once the client has shut down its side.
fn upper_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut line = Vec::new();
                let mut buf = [0u8; 4096];
                while !line.contains(&b'\n') {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => line.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(&line.to_ascii_uppercase());
                let _ = s.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

#[test]
fn nc_talks_to_a_host_server_with_net() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let port = upper_server();
    let args = vec!["nc".to_string(), "127.0.0.1".into(), port.to_string()];
    let input = b"hello through the sandbox\n";
    let native = run_native(&bb, &args, Some(input));
    assert_eq!(native.stdout, b"HELLO THROUGH THE SANDBOX\n", "{native:?}");
    let mut cmd = vmm_command();
    cmd.arg("--net").arg("--elf").arg(&bb).arg("--").args(&args);
    let out = run_command(&mut cmd, Some(input));
    assert_no_panic(&out);
    assert_same(&native, &out, Compare::All);
    // Without --net: refused.
    let mut cmd = vmm_command();
    cmd.arg("--elf").arg(&bb).arg("--").args(&args);
    let out = run_command(&mut cmd, Some(input));
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn udp_echo_through_net() {
    let prog = c_program("net_udp_client");
    if !require_kvm() {
        return;
    }
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            let _ = server.send_to(&buf[..n], from);
        }
    });
    let args = [port.to_string(), "5".into()];
    let native = run_native(&prog, &args, None);
    assert_eq!(native.code(), 0, "{native:?}");
    let out = sandbox(&["--net"], &prog, &args);
    assert_no_panic(&out);
    assert_same(&native, &out, Compare::All);
}

#[test]
fn hosts_file_resolves_names_with_net() {
    let prog = c_program("net_resolve");
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut names: Vec<String> = hosts
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace().skip(1).map(str::to_string))
        .filter(|n| !n.contains(':'))
        .take(4)
        .collect();
    if names.is_empty() {
        names.push("localhost".into());
    }
    let native = run_native(&prog, &names, None);
    let out = sandbox(&["--net"], &prog, &names);
    assert_no_panic(&out);
    assert_same(&native, &out, Compare::All);
    // The files themselves are the host's.
    for file in ["/etc/hosts", "/etc/resolv.conf"] {
        let Ok(host) = std::fs::read(file) else {
            continue;
        };
        let args = vec!["cat".to_string(), file.into()];
        let out = sandbox(&["--net"], &bb, &args);
        assert_eq!(out.stdout, host, "{file}: {out:?}");
    }
}

/// A free host port (bound and released: the VMM binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the VMM in the background.
fn spawn_vmm(args: &[String]) -> Child {
    vmm_command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Connects to the published port until the sandbox's server answers
/// (before its listener exists, the VMM closes the connections).
fn exchange(port: u16, request: &[u8], deadline: Duration) -> Vec<u8> {
    let started = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            if s.write_all(request).is_ok() {
                let _ = s.shutdown(Shutdown::Write);
                let mut reply = Vec::new();
                if s.read_to_end(&mut reply).is_ok() && !reply.is_empty() {
                    return reply;
                }
            }
        }
        assert!(started.elapsed() < deadline, "no answer through --publish");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn busybox_httpd_inside_reached_through_publish() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let www = tempfile_dir("net-httpd");
    std::fs::write(www.join("index.html"), "served from the sandbox\n").unwrap();
    let port = free_port();
    let mut child = spawn_vmm(&[
        "--publish".into(),
        format!("{port}:8080"),
        "--mount".into(),
        format!("{}:/www:ro", www.display()),
        "--timeout".into(),
        "60".into(),
        "--elf".into(),
        bb.display().to_string(),
        "--".into(),
        "httpd".into(),
        "-f".into(),
        "-p".into(),
        "8080".into(),
        "-h".into(),
        "/www".into(),
    ]);
    let reply = exchange(
        port,
        b"GET /index.html HTTP/1.0\r\n\r\n",
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&reply).into_owned();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.starts_with("HTTP/1.") && text.contains(" 200 OK"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n\r\nserved from the sandbox\n"),
        "{text}"
    );
}

#[test]
fn c_echo_server_inside_reached_through_publish() {
    let prog = c_program("net_echo_server");
    if !require_kvm() {
        return;
    }
    let port = free_port();
    let child = spawn_vmm(&[
        "--publish".into(),
        format!("127.0.0.1:{port}:7000"),
        "--timeout".into(),
        "60".into(),
        "--elf".into(),
        prog.display().to_string(),
        "--".into(),
        "7000".into(),
        "2".into(),
    ]);
    let small = exchange(port, b"ping\n", Duration::from_secs(30));
    assert_eq!(small, b"ping\n");
    // A transfer larger than the ring's buffers, both ways at once.
    let data = test_bytes(3 << 20);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = s.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        s.write_all(&sent).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert!(
        back == data,
        "echo differs ({} of {} bytes)",
        back.len(),
        data.len()
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("connection 1: {} bytes echoed", data.len())),
        "{stdout}"
    );
}

/// A fresh empty directory under the target dir.
fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = target_dir()
        .join("test-tmp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn proc_net_dev_lists_the_interfaces() {
    let bb = busybox();
    if !require_kvm() {
        return;
    }
    let args = vec!["cat".to_string(), "/proc/net/dev".into()];
    let native = std::fs::read_to_string("/proc/net/dev").unwrap();
    let header: Vec<&str> = native.lines().take(2).collect();
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_string())
            .collect()
    };
    for (net_args, expected) in [(&[][..], vec!["lo"]), (&["--net"][..], vec!["lo", "eth0"])] {
        let out = sandbox(net_args, &bb, &args);
        assert_eq!(out.code(), 0, "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // The same layout as the host's (tools parse it by columns).
        assert_eq!(text.lines().take(2).collect::<Vec<_>>(), header, "{text}");
        assert_eq!(names(&text), expected, "{text}");
    }
}

/// With --net, getifaddrs (netlink) shows `eth0` too, addressed with the
/// host's source address towards its default route, the address host
/// servers see the sandbox's connections come from.
#[test]
fn net_interfaces_show_eth0_with_net() {
    let prog = c_program("net_interfaces");
    if !require_kvm() {
        return;
    }
    let out = sandbox(&["--net"], &prog, &["list".to_string()]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    let text = out.stdout_str();
    assert!(
        text.contains("interface lo AF_INET flags=0x10049 addr=127.0.0.1"),
        "{text}"
    );
    let probe = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr());
    if let Ok(std::net::SocketAddr::V4(addr)) = probe {
        let line = format!("interface eth0 AF_INET flags=0x100d1 addr={}", addr.ip());
        assert!(text.contains(&line), "missing {line:?}\n{text}");
    } else {
        assert!(text.contains("interface eth0 AF_INET"), "{text}");
    }
}
