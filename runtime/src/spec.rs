//! Reading an OCI bundle's `config.json` into a [`Plan`]: what the sandbox
//! process hands to the VMM library when the container starts.

use std::path::{Component, Path, PathBuf};

use rvisor_vmm::vm::{MAX_MEMORY, MIN_MEMORY};
use serde_json::{json, Value};

/// Guest memory when config.json sets no memory limit.
pub const DEFAULT_MEMORY: u64 = 256 << 20;
/// The VMM takes guest memory in multiples of 2 MiB.
const MEMORY_STEP: u64 = 2 << 20;

/// A shared directory: `host` appears at `guest` in the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub host: String,
    pub guest: String,
    pub read_only: bool,
    /// A regular file (bound over a file), not a directory.
    pub file: bool,
    /// A fresh tmpfs at `guest` (an OCI `tmpfs` mount; `host` is empty).
    pub tmpfs: bool,
}

/// Everything the sandbox needs from config.json, checked at `create`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Absolute host path of the root file system.
    pub root: String,
    pub root_read_only: bool,
    pub shares: Vec<Share>,
    pub memory: u64,
    /// (RLIMIT_* number, soft, hard) from `process.rlimits`.
    pub rlimits: Vec<(usize, u64, u64)>,
    /// `process.user`: the first process's uid and gid.
    pub uid: u32,
    pub gid: u32,
    /// `hostname` (uname's nodename in the sandbox).
    pub hostname: Option<String>,
    pub no_new_privs: bool,
    /// `process.terminal`: the sandbox's stdio is a pty whose master went
    /// over the console socket.
    pub terminal: bool,
}

/// Mount types the sentry provides itself (its own /proc, /dev, /tmp...).
const SENTRY_PROVIDED: [&str; 7] = [
    "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what}: expected strings"))
            })
            .collect(),
        Some(_) => Err(format!("{what}: expected an array of strings")),
    }
}

fn no_nul(s: &str, what: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err(format!("{what} contains a NUL byte"));
    }
    Ok(())
}

/// A guest memory size from `linux.resources.memory.limit`: rounded up to
/// the VMM's 2 MiB step and clamped to what it supports.
pub fn memory_from_limit(limit: Option<i64>) -> u64 {
    match limit {
        Some(bytes) if bytes > 0 => {
            let rounded = (bytes as u64)
                .div_ceil(MEMORY_STEP)
                .saturating_mul(MEMORY_STEP);
            rounded.clamp(MIN_MEMORY, MAX_MEMORY - MAX_MEMORY % MEMORY_STEP)
        }
        _ => DEFAULT_MEMORY,
    }
}

fn rlimit_number(name: &str) -> Option<usize> {
    const NAMES: [&str; 16] = [
        "CPU",
        "FSIZE",
        "DATA",
        "STACK",
        "CORE",
        "RSS",
        "NPROC",
        "NOFILE",
        "MEMLOCK",
        "AS",
        "LOCKS",
        "SIGPENDING",
        "MSGQUEUE",
        "NICE",
        "RTPRIO",
        "RTTIME",
    ];
    let short = name.strip_prefix("RLIMIT_")?;
    NAMES.iter().position(|n| *n == short)
}

/// A guest path made of normal components only (no `..`), normalized.
fn guest_path(path: &str, what: &str) -> Result<String, String> {
    no_nul(path, what)?;
    if !path.starts_with('/') {
        return Err(format!("{what} must be absolute, got {path:?}"));
    }
    let mut out = String::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                out.push('/');
                out.push_str(&name.to_string_lossy());
            }
            _ => return Err(format!("{what} may not contain '..': {path:?}")),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether a mount destination lies in a tree the sentry owns.
fn in_sentry_tree(guest: &str) -> bool {
    ["/proc", "/dev", "/sys"]
        .iter()
        .any(|tree| guest == *tree || guest.starts_with(&format!("{tree}/")))
}

/// Reads `config` (the parsed config.json of the bundle at `bundle`).
/// Returns the plan and log lines about what was left out.
/// What `process` (config.json's, or exec's process.json) asks for.
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub no_new_privs: bool,
    pub terminal: bool,
    /// (RLIMIT_* number, soft, hard).
    pub rlimits: Vec<(usize, u64, u64)>,
}

/// Reads and checks an OCI `process` object; `notes` gets what is
/// accepted but not applied.
pub fn process(process: &Value, notes: &mut Vec<String>) -> Result<ProcessSpec, String> {
    let terminal = process.get("terminal").and_then(Value::as_bool) == Some(true);
    let args = strings(process.get("args"), "process.args")?;
    if args.is_empty() || args[0].is_empty() {
        return Err("process.args is empty".into());
    }
    for arg in &args {
        no_nul(arg, "process.args")?;
    }
    let env = strings(process.get("env"), "process.env")?;
    for var in &env {
        no_nul(var, "process.env")?;
        if !var.contains('=') || var.starts_with('=') {
            return Err(format!("process.env: expected KEY=VALUE, got {var:?}"));
        }
    }
    let cwd = guest_path(
        process.get("cwd").and_then(Value::as_str).unwrap_or("/"),
        "process.cwd",
    )?;
    let user = process.get("user");
    let id = |key: &str| -> Result<u32, String> {
        match user.and_then(|u| u.get(key)) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n != u32::MAX)
                .ok_or_else(|| format!("process.user.{key}: invalid id {v}")),
        }
    };
    let (uid, gid) = (id("uid")?, id("gid")?);
    if let Some(Value::Array(groups)) = user.and_then(|u| u.get("additionalGids")) {
        if !groups.is_empty() {
            notes.push("process.user.additionalGids are not applied".into());
        }
    }
    let no_new_privs = process.get("noNewPrivileges").and_then(Value::as_bool) == Some(true);
    let mut rlimits = Vec::new();
    if let Some(Value::Array(items)) = process.get("rlimits") {
        for item in items {
            let name = item.get("type").and_then(Value::as_str).unwrap_or("");
            let soft = item.get("soft").and_then(Value::as_u64);
            let hard = item.get("hard").and_then(Value::as_u64);
            match (rlimit_number(name), soft, hard) {
                (Some(number), Some(soft), Some(hard)) if soft <= hard => {
                    rlimits.push((number, soft, hard))
                }
                _ => return Err(format!("process.rlimits: invalid entry {item}")),
            }
        }
    }

    Ok(ProcessSpec {
        args,
        env,
        cwd,
        uid,
        gid,
        no_new_privs,
        terminal,
        rlimits,
    })
}

pub fn plan(config: &Value, bundle: &Path) -> Result<(Plan, Vec<String>), String> {
    let mut notes = Vec::new();
    let process_value = config.get("process").ok_or("config.json has no process")?;
    let ProcessSpec {
        args,
        env,
        cwd,
        uid,
        gid,
        no_new_privs,
        terminal,
        rlimits,
    } = process(process_value, &mut notes)?;

    let root = config.get("root").ok_or("config.json has no root")?;
    let root_path = root
        .get("path")
        .and_then(Value::as_str)
        .ok_or("root.path is missing")?;
    no_nul(root_path, "root.path")?;
    let root_path: PathBuf = bundle.join(root_path);
    let root_path = root_path
        .canonicalize()
        .map_err(|e| format!("root.path {}: {e}", root_path.display()))?;
    if !root_path.is_dir() {
        return Err(format!(
            "root.path {} is not a directory",
            root_path.display()
        ));
    }
    let root_read_only = root.get("readonly").and_then(Value::as_bool) == Some(true);

    let mut shares = Vec::new();
    if let Some(Value::Array(mounts)) = config.get("mounts") {
        for mount in mounts {
            let destination = mount
                .get("destination")
                .and_then(Value::as_str)
                .ok_or("a mount has no destination")?;
            let kind = mount.get("type").and_then(Value::as_str).unwrap_or("");
            let options = strings(mount.get("options"), "mounts[].options")?;
            let bind = kind == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
            if !bind && kind == "tmpfs" {
                let guest = guest_path(destination, "mounts[].destination")?;
                if in_sentry_tree(&guest) {
                    // /dev/shm and the like: the sandbox has its own.
                    continue;
                }
                shares.push(Share {
                    host: String::new(),
                    guest,
                    read_only: false,
                    file: false,
                    tmpfs: true,
                });
                continue;
            }
            if !bind {
                if !SENTRY_PROVIDED.contains(&kind) {
                    notes.push(format!(
                        "mount of type {kind:?} at {destination} is not supported; skipped"
                    ));
                }
                continue;
            }
            let guest = guest_path(destination, "mounts[].destination")?;
            let source = mount
                .get("source")
                .and_then(Value::as_str)
                .ok_or("a bind mount has no source")?;
            no_nul(source, "mounts[].source")?;
            let host = bundle.join(source);
            if in_sentry_tree(&guest) {
                notes.push(format!(
                    "bind mount at {guest} skipped: the sandbox provides that tree"
                ));
                continue;
            }
            let file = host.is_file();
            if !host.is_dir() && !file {
                notes.push(format!(
                    "bind mount of {} at {guest} skipped: only directories and regular files can be shared",
                    host.display()
                ));
                continue;
            }
            shares.push(Share {
                host: host.to_string_lossy().into_owned(),
                guest,
                read_only: options.iter().any(|o| o == "ro"),
                file,
                tmpfs: false,
            });
        }
    }

    let resources = config.pointer("/linux/resources");
    let limit = resources
        .and_then(|r| r.pointer("/memory/limit"))
        .and_then(Value::as_i64);
    let memory = memory_from_limit(limit);
    if let Some(limit) = limit.filter(|&l| l > 0) {
        if memory != limit as u64 {
            notes.push(format!(
                "memory limit {limit} bytes: guest memory is {} MiB",
                memory >> 20
            ));
        }
    }
    if resources.and_then(|r| r.get("cpu")).is_some() {
        notes.push("linux.resources.cpu is noted but not enforced (one vCPU)".into());
    }
    let hostname = match config.get("hostname").and_then(Value::as_str) {
        None | Some("") => None,
        Some(name) if name.len() <= 64 && !name.contains('\0') => Some(name.to_owned()),
        Some(name) => return Err(format!("hostname {name:?}: longer than 64 bytes")),
    };

    Ok((
        Plan {
            args,
            env,
            cwd,
            root: root_path.to_string_lossy().into_owned(),
            root_read_only,
            shares,
            memory,
            rlimits,
            uid,
            gid,
            hostname,
            no_new_privs,
            terminal,
        },
        notes,
    ))
}

impl Plan {
    pub fn to_json(&self) -> Value {
        json!({
            "args": self.args,
            "env": self.env,
            "cwd": self.cwd,
            "root": self.root,
            "root_read_only": self.root_read_only,
            "shares": self.shares.iter().map(|s| json!({
                "host": s.host, "guest": s.guest, "read_only": s.read_only, "file": s.file, "tmpfs": s.tmpfs
            })).collect::<Vec<_>>(),
            "memory": self.memory,
            "rlimits": self.rlimits.iter().map(|(n, soft, hard)| json!([n, soft, hard])).collect::<Vec<_>>(),
            "uid": self.uid,
            "gid": self.gid,
            "hostname": self.hostname,
            "no_new_privs": self.no_new_privs,
            "terminal": self.terminal,
        })
    }

    pub fn from_json(value: &Value) -> Result<Plan, String> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("state: bad {key}"))
        };
        let id = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("state: bad {key}"))
        };
        let flag = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_bool)
                .ok_or_else(|| format!("state: bad {key}"))
        };
        let shares = value
            .get("shares")
            .and_then(Value::as_array)
            .ok_or("state: bad shares")?
            .iter()
            .map(|s| {
                Some(Share {
                    host: s.get("host")?.as_str()?.to_owned(),
                    guest: s.get("guest")?.as_str()?.to_owned(),
                    read_only: s.get("read_only")?.as_bool()?,
                    file: s.get("file")?.as_bool()?,
                    tmpfs: s.get("tmpfs")?.as_bool()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("state: bad share")?;
        let rlimits = value
            .get("rlimits")
            .and_then(Value::as_array)
            .ok_or("state: bad rlimits")?
            .iter()
            .map(|r| {
                Some((
                    r.get(0)?.as_u64()? as usize,
                    r.get(1)?.as_u64()?,
                    r.get(2)?.as_u64()?,
                ))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("state: bad rlimit")?;
        Ok(Plan {
            args: strings(value.get("args"), "state args")?,
            env: strings(value.get("env"), "state env")?,
            cwd: text("cwd")?,
            root: text("root")?,
            root_read_only: value
                .get("root_read_only")
                .and_then(Value::as_bool)
                .ok_or("state: bad root_read_only")?,
            shares,
            memory: value
                .get("memory")
                .and_then(Value::as_u64)
                .ok_or("state: bad memory")?,
            rlimits,
            uid: id("uid")?,
            gid: id("gid")?,
            hostname: value
                .get("hostname")
                .and_then(Value::as_str)
                .map(str::to_owned),
            no_new_privs: flag("no_new_privs")?,
            terminal: flag("terminal")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_rounds_to_the_vmm_rules() {
        assert_eq!(memory_from_limit(None), DEFAULT_MEMORY);
        assert_eq!(memory_from_limit(Some(-1)), DEFAULT_MEMORY);
        assert_eq!(memory_from_limit(Some(1)), MIN_MEMORY);
        assert_eq!(memory_from_limit(Some((100 << 20) + 1)), 102 << 20);
        assert_eq!(memory_from_limit(Some(i64::MAX)) % MEMORY_STEP, 0);
    }

    #[test]
    fn guest_paths_are_normalized_and_checked() {
        assert_eq!(guest_path("/a//b/./c/", "x").unwrap(), "/a/b/c");
        assert_eq!(guest_path("/", "x").unwrap(), "/");
        assert!(guest_path("a", "x").is_err());
        assert!(guest_path("/a/../b", "x").is_err());
    }

    #[test]
    fn plan_reads_a_podman_style_config() {
        let dir = std::env::temp_dir().join(format!("rvisor-spec-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("hosts"), "").unwrap();
        let config = json!({
            "process": {"args": ["sh", "-c", "true"], "env": ["A=1"], "cwd": "/tmp",
                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}]},
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": dir.join("data"), "options": ["rbind", "ro"]},
                {"destination": "/etc/hosts", "type": "bind", "source": dir.join("hosts"), "options": ["rbind"]},
                {"destination": "/dev/shm", "type": "bind", "source": dir.join("data"), "options": ["bind"]},
                {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
                {"destination": "/dev/mqueue", "type": "tmpfs", "source": "tmpfs"}
            ],
            "linux": {"resources": {"memory": {"limit": 134217728}}}
        });
        let (plan, notes) = plan(&config, &dir).unwrap();
        assert_eq!(plan.args, ["sh", "-c", "true"]);
        assert_eq!(plan.cwd, "/tmp");
        assert_eq!(plan.memory, 128 << 20);
        assert_eq!(plan.rlimits, [(7, 1024, 1024)]);
        assert_eq!(plan.shares.len(), 3);
        assert_eq!(plan.shares[2].guest, "/run");
        assert!(plan.shares[2].tmpfs);
        assert_eq!(plan.shares[0].guest, "/data");
        assert!(plan.shares[0].read_only && !plan.shares[0].file);
        assert_eq!(plan.shares[1].guest, "/etc/hosts");
        assert!(!plan.shares[1].read_only && plan.shares[1].file);
        assert!(!plan.root_read_only);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(Plan::from_json(&plan.to_json()).unwrap(), plan);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
