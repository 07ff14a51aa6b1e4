//! The second pass over a config: the files it names (tokens, passwords,
//! certificates, keys) exist, are files, can be opened by the user running
//! this process, and hold what the agent will look for in them.
//!
//! Parsing stays free of I/O; this pass is what `check-config` and `run`
//! add on top of it, so that a config `check-config` accepts is one `run`
//! can start with, and `run` exits 2 on what this finds (which the systemd
//! unit does not retry) instead of failing later in a restart loop.

use std::cell::OnceCell;
use std::ffi::CStr;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ConfigError;

/// No file the config names is anywhere near this big; reading stops here.
const MAX_FILE: u64 = 16 << 20;

/// What a file named by the config must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// `[relay] token_file`: one line, the gateway token.
    Token,
    /// `[mqtt] password_file`: the broker password as text.
    Password,
    /// A `ca_file`: one or more PEM certificates to trust.
    CaCertificates,
    /// `[mqtt] client_cert_file`: a PEM certificate chain.
    Certificate,
    /// `[mqtt] client_key_file`: a PEM private key.
    PrivateKey,
}

impl Holds {
    /// What the file should hold, for messages.
    fn what(self) -> &'static str {
        match self {
            Holds::Token => {
                "the gateway token printed by `edgetherm-relay gateway add <gateway_id>`"
            }
            Holds::Password => "the broker password",
            Holds::CaCertificates => "the CA certificate(s) in PEM form",
            Holds::Certificate => "the client certificate in PEM form",
            Holds::PrivateKey => "the client's private key in PEM form",
        }
    }

    /// What is wrong with `bytes` as the content of such a file, if anything.
    fn content_problem(self, shown: &str, bytes: &[u8]) -> Option<String> {
        match self {
            Holds::Token => {
                let Ok(text) = std::str::from_utf8(bytes) else {
                    return Some(format!("{shown} is not text: expected {}", self.what()));
                };
                let token = text.trim();
                if token.is_empty() {
                    Some(format!("{shown} is empty: put {} in it", self.what()))
                } else if token.chars().any(|c| c.is_control() || c == ' ') {
                    Some(format!("{shown} holds spaces or control characters: expected only {}, on one line", self.what()))
                } else {
                    None
                }
            }
            Holds::Password => std::str::from_utf8(bytes)
                .is_err()
                .then(|| format!("{shown} is not UTF-8 text: expected {}", self.what())),
            Holds::CaCertificates | Holds::Certificate => certificate_problem(self, shown, bytes),
            Holds::PrivateKey => match PrivateKeyDer::from_pem_slice(bytes) {
                Ok(_) => None,
                Err(pem::Error::NoItemsFound) => Some(format!(
                    "{shown} holds no PEM private key (no `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block): expected {}",
                    self.what()
                )),
                Err(e) => Some(damaged(shown, &e, self)),
            },
        }
    }
}

fn certificate_problem(holds: Holds, shown: &str, bytes: &[u8]) -> Option<String> {
    let certs: Vec<CertificateDer<'_>> = match CertificateDer::pem_slice_iter(bytes).collect() {
        Ok(certs) => certs,
        Err(e) => return Some(damaged(shown, &e, holds)),
    };
    if certs.is_empty() {
        return Some(format!(
            "{shown} holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` block): expected {} (a DER file converts with `openssl x509 -inform der -in CERT.der -out CERT.pem`)",
            holds.what()
        ));
    }
    if holds == Holds::CaCertificates {
        // The same test the TLS set-up makes when it adds them as roots.
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            if let Err(e) = roots.add(cert) {
                return Some(format!(
                    "{shown} holds a certificate that cannot be used as a CA ({e}): expected {}",
                    holds.what()
                ));
            }
        }
    }
    None
}

fn damaged(shown: &str, e: &pem::Error, holds: Holds) -> String {
    format!(
        "{shown} holds a damaged PEM block ({e}): expected {}",
        holds.what()
    )
}

/// A file the config names, and where it names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    /// The key, with its table (e.g. `[relay] ca_file`).
    pub key: String,
    /// The path exactly as written (a relative one is taken from the working directory, as the agent does).
    pub path: PathBuf,
    /// What it must hold.
    pub holds: Holds,
    /// 1-based line of the value.
    pub line: usize,
    /// 1-based column of the value.
    pub column: usize,
}

/// Every problem with the files `named` by the config at `config_path`, as
/// errors at the keys that name them (empty when all is well).
pub fn check(config_path: &Path, named: &[NamedFile]) -> Vec<ConfigError> {
    // Looked up (through NSS) only if an error needs it.
    let user = OnceCell::new();
    named
        .iter()
        .filter_map(|f| {
            problem(f, &user).map(|message| ConfigError {
                file: config_path.to_path_buf(),
                line: f.line,
                column: f.column,
                key: f.key.clone(),
                message,
            })
        })
        .collect()
}

fn problem(f: &NamedFile, user: &OnceCell<User>) -> Option<String> {
    let path = &f.path;
    let shown = shown(path);
    let what = f.holds.what();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "{shown} does not exist: create it (with {what} in it), or fix the path"
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(format!(
                "cannot reach {shown}: user {} may not enter a directory on the way: give it search (x) permission on each one (`namei -l {}` lists them)",
                user.get_or_init(User::effective),
                path.display()
            ))
        }
        Err(e) => return Some(format!("cannot look at {shown}: {e}: fix the path")),
    };
    if meta.is_dir() {
        return Some(format!(
            "{shown} is a directory: expected a file with {what} in it; fix the path"
        ));
    }
    if !meta.is_file() {
        return Some(format!(
            "{shown} is not a regular file: expected a file with {what} in it; fix the path"
        ));
    }
    // Opening it for real is the only test that counts for this user (ACLs,
    // capabilities, root, read-only mounts all answer here).
    let bytes = match read_capped(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let user = user.get_or_init(User::effective);
            return Some(format!(
                "{shown} is not readable by user {user}, who runs this: make it readable by that user, e.g. `chown {} {p}` then `chmod u+r {p}`",
                user.chown_name(),
                p = path.display()
            ));
        }
        Err(e) => return Some(format!("cannot read {shown}: {e}")),
    };
    if bytes.len() as u64 > MAX_FILE {
        return Some(format!(
            "{shown} is larger than {} MiB: expected a small file with {what} in it; fix the path",
            MAX_FILE >> 20
        ));
    }
    f.holds.content_problem(&shown, &bytes)
}

/// Up to one byte more than `MAX_FILE`, so that "too big" can be told apart.
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The path as written, and where a relative one points.
fn shown(path: &Path) -> String {
    if path.is_absolute() {
        return path.display().to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => format!(
            "{} (relative to the working directory, so {})",
            path.display(),
            cwd.join(path).display()
        ),
        Err(_) => format!("{} (relative to the working directory)", path.display()),
    }
}

/// The effective user of this process, for "readable by whom".
struct User {
    uid: u32,
    name: Option<String>,
}

impl User {
    fn effective() -> User {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        User {
            uid,
            name: user_name(uid),
        }
    }

    /// What to pass to `chown`: the name, or the number if it has none.
    fn chown_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.uid.to_string())
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// The passwd name of `uid` (through NSS, like `id -un`), if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; all-zero is a valid (empty) value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, `buf.len()` is the
    // buffer's real size, and `found` is only read after it returns.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}
