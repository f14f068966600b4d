//! `--wasm`: WebAssembly (WASI) command modules and components. The VMM never
//! parses or compiles WebAssembly: it checks the `\0asm` magic number (for
//! a clear error), then runs the bundled runtime (`wasm-runtime/`, wasmtime
//! with Cranelift, a static Linux ELF built for this host's architecture by
//! build.rs) as the sandbox's program, with the module as a read-only file
//! beside it. See docs/wasi.md.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::app::{AppImage, MAX_APP_SIZE};
use crate::error::Failure;
use crate::hostfs::MountSpec;

/// The first four bytes of every WebAssembly binary module.
pub const WASM_MAGIC: &[u8] = b"\0asm";

/// The runtime, built by build.rs for this host's architecture.
static RUNTIME_ELF: &[u8] = include_bytes!(env!("RVISOR_WASM_RUNTIME_ELF"));

/// Where the runtime sits inside the sandbox (its tmpfs; a WASI module sees
/// only its preopens, never this).
pub const RUNTIME_GUEST_PATH: &str = "/.rvisor/wasm-runtime";
/// Where the module sits inside the sandbox, read-only.
pub const MODULE_GUEST_PATH: &str = "/.rvisor/module.wasm";

/// A module checked on the host, ready to be handed to the runtime.
pub struct WasmModule {
    /// The path as the user gave it: the module's argv[0].
    pub path_as_given: OsString,
    pub bytes: Vec<u8>,
}

/// Reads `path` and checks that it looks like a WebAssembly module (the
/// magic number; everything else is the engine's business, inside the
/// sandbox). 127 when it does not exist, 126 when it is not a module.
pub fn load(path_os: &OsStr) -> Result<WasmModule, Failure> {
    let path = path_os.to_string_lossy();
    let not_runnable = |why: String| Failure::NotRunnable(format!("{path}: {why}"));
    let metadata = match std::fs::metadata(path_os) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Failure::NotFound(format!("{path}: no such file")));
        }
        Err(e) => return Err(not_runnable(format!("cannot access: {e}"))),
    };
    if metadata.is_dir() {
        return Err(not_runnable("is a directory".into()));
    }
    if !metadata.is_file() {
        return Err(not_runnable("not a regular file".into()));
    }
    if metadata.len() > MAX_APP_SIZE {
        return Err(not_runnable(format!(
            "too large ({} bytes; the limit is {MAX_APP_SIZE})",
            metadata.len()
        )));
    }
    let bytes = std::fs::read(path_os).map_err(|e| not_runnable(format!("cannot read: {e}")))?;
    if !bytes.starts_with(WASM_MAGIC) {
        let hint = if bytes.starts_with(b"\x7fELF") {
            " (an ELF executable: run it with --elf)"
        } else {
            ""
        };
        return Err(not_runnable(format!(
            "not a WebAssembly module (no \\0asm magic number){hint}"
        )));
    }
    Ok(WasmModule {
        path_as_given: path_os.to_owned(),
        bytes,
    })
}

/// The compile step's program: the runtime compiling the module (and
/// nothing else: no mounts, no environment, no arguments) and writing its
/// code to stdout. `name` names the module in error messages.
pub fn compile_invocation(name: &OsStr) -> (AppImage, Vec<OsString>) {
    let app = AppImage {
        path_as_given: OsString::from(RUNTIME_GUEST_PATH),
        canonical_path: PathBuf::from(RUNTIME_GUEST_PATH),
        bytes: Cow::Borrowed(RUNTIME_ELF),
    };
    let args = vec![
        "--compile".into(),
        MODULE_GUEST_PATH.into(),
        "--".into(),
        name.to_owned(),
    ];
    (app, args)
}

/// Where a `--mount` at `/` sits in the sandbox (its preopen is still named
/// `/`): the sandbox's own root holds the runtime.
pub const ROOT_PREOPEN_SANDBOX_PATH: &str = "/.rvisor/root";

/// The program the sandbox runs for `module`: the runtime, its arguments
/// (`--module`, one `--preopen SANDBOX_PATH NAME` per shared directory,
/// then the module's own argv), and the mounts as the sandbox places them.
/// `precompiled`: the data file holds the module's compiled code (from the
/// cache) rather than the module.
pub fn runtime_invocation(
    module: &WasmModule,
    args: &[OsString],
    mounts: &[MountSpec],
    precompiled: bool,
) -> (AppImage, Vec<OsString>, Vec<MountSpec>) {
    let app = AppImage {
        path_as_given: OsString::from(RUNTIME_GUEST_PATH),
        canonical_path: PathBuf::from(RUNTIME_GUEST_PATH),
        bytes: Cow::Borrowed(RUNTIME_ELF),
    };
    let mut runtime_args: Vec<OsString> = vec!["--module".into(), MODULE_GUEST_PATH.into()];
    if precompiled {
        runtime_args.push("--precompiled".into());
    }
    let mut sandbox_mounts = Vec::new();
    for mount in mounts {
        let mut placed = mount.clone();
        if placed.guest == "/" {
            placed.guest = ROOT_PREOPEN_SANDBOX_PATH.into();
        }
        runtime_args.push(
            if mount.read_only {
                "--preopen-ro"
            } else {
                "--preopen"
            }
            .into(),
        );
        runtime_args.push(OsString::from(&placed.guest));
        runtime_args.push(OsString::from(&mount.guest));
        sandbox_mounts.push(placed);
    }
    runtime_args.push("--".into());
    runtime_args.push(module.path_as_given.clone());
    runtime_args.extend(args.iter().cloned());
    (app, runtime_args, sandbox_mounts)
}

// ---------------------------------------------------------------------------
// The compiled-code cache (`--wasm-cache`)

/// Identifies the engine and its configuration: a SHA-256 of the runtime
/// ELF, computed by build.rs. A new runtime never loads another's code.
pub const ENGINE_ID: &str = env!("RVISOR_WASM_RUNTIME_SHA256");

const ENTRY_MAGIC: &[u8; 8] = b"RVWASMC1";
const MAC_LEN: usize = 32;
/// The largest compiled code the cache accepts (also bounds what the
/// compile step may send back).
pub const MAX_CODE_SIZE: u64 = 512 << 20;

/// The default cache directory: `$XDG_CACHE_HOME/rvisor/wasm`, else
/// `$HOME/.cache/rvisor/wasm`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache"),
    };
    base.is_absolute().then(|| base.join("rvisor").join("wasm"))
}

/// A cache directory with its MAC key. Entries are
/// `<hex SHA-256(engine id, module)>.cwasm`: a magic number, an
/// HMAC-SHA256 (with the key, over the engine id, the module's hash and
/// the code) and wasmtime's serialized code. The key file (`key`, 32 random
/// bytes, mode 0600) never enters a sandbox; an entry whose MAC does not
/// verify is ignored and rebuilt.
pub struct CodeCache {
    dir: PathBuf,
    key: [u8; 32],
}

fn io_failure(what: &str, path: &std::path::Path, e: std::io::Error) -> Failure {
    crate::error::internal(format!("wasm cache: {what} {}: {e}", path.display()))
}

impl CodeCache {
    /// Opens (creating it and its key when needed) the cache in `dir`.
    pub fn open(dir: &std::path::Path) -> Result<CodeCache, Failure> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_failure("cannot create", dir, e))?;
        let key_path = dir.join("key");
        if !key_path.exists() {
            // A new key appears whole or not at all: written under a
            // temporary name, then linked into place (a concurrent first
            // run links its own or finds this one).
            let mut key = [0u8; 32];
            crate::vm::getrandom(&mut key)?;
            let tmp = dir.join(format!(".key.tmp.{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut file| file.write_all(&key).and_then(|()| file.sync_all()));
            let linked = written.and_then(|()| match std::fs::hard_link(&tmp, &key_path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            });
            let _ = std::fs::remove_file(&tmp);
            linked.map_err(|e| io_failure("cannot create", &key_path, e))?;
        }
        let meta = std::fs::symlink_metadata(&key_path)
            .map_err(|e| io_failure("cannot read", &key_path, e))?;
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 || meta.len() != 32 {
            return Err(crate::error::internal(format!(
                "wasm cache: {} must be a 32-byte file of this user with mode 0600",
                key_path.display()
            )));
        }
        let bytes =
            std::fs::read(&key_path).map_err(|e| io_failure("cannot read", &key_path, e))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            crate::error::internal("wasm cache: the key file changed while it was read")
        })?;
        Ok(CodeCache {
            dir: dir.to_owned(),
            key,
        })
    }

    fn module_hash(module: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(module).into()
    }

    fn entry_path(&self, module_hash: &[u8; 32]) -> PathBuf {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(ENGINE_ID.as_bytes());
        hasher.update(module_hash);
        let name: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{name}.cwasm"))
    }

    fn mac(&self, module_hash: &[u8; 32], code: &[u8]) -> [u8; MAC_LEN] {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(ENGINE_ID.as_bytes());
        mac.update(module_hash);
        mac.update(code);
        mac.finalize().into_bytes().into()
    }

    /// The authenticated compiled code of `module`, if the cache holds it.
    pub fn lookup(&self, module: &[u8]) -> Option<Vec<u8>> {
        use hmac::Mac;
        let hash = Self::module_hash(module);
        let path = self.entry_path(&hash);
        let entry = std::fs::read(&path).ok()?;
        let header = ENTRY_MAGIC.len() + MAC_LEN;
        if entry.len() < header || &entry[..ENTRY_MAGIC.len()] != ENTRY_MAGIC {
            log::info!("wasm cache: {} is malformed; ignoring it", path.display());
            return None;
        }
        let (tag, code) = entry[ENTRY_MAGIC.len()..].split_at(MAC_LEN);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(ENGINE_ID.as_bytes());
        mac.update(&hash);
        mac.update(code);
        // Constant-time comparison.
        if mac.verify_slice(tag).is_err() {
            log::warn!(
                "wasm cache: {} does not authenticate; ignoring it",
                path.display()
            );
            return None;
        }
        let mut entry = entry;
        entry.drain(..header);
        Some(entry)
    }

    /// Stores `code` (produced by the compile step for `module`).
    pub fn store(&self, module: &[u8], code: &[u8]) -> Result<(), Failure> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let hash = Self::module_hash(module);
        let path = self.entry_path(&hash);
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_failure("cannot create", &tmp, e))?;
        let written = file
            .write_all(ENTRY_MAGIC)
            .and_then(|()| file.write_all(&self.mac(&hash, code)))
            .and_then(|()| file.write_all(code))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_failure("cannot write", &path, e));
        }
        Ok(())
    }
}
