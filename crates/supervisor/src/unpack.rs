//! Deployment packages: validating a zip and unpacking it once per code hash.
//!
//! A package is unpacked into `<root>/<sha256-hex>/`, first into a temporary sibling directory
//! then renamed into place, so concurrent environments either see the complete tree or none.
//! The tree is made read-only (write bits cleared), as `/var/task` is on AWS. Entries are checked
//! for path traversal; symbolic links are created last so that no later write follows one.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use zip::ZipArchive;

/// Why a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error("not a readable zip archive: {0}")]
    NotAZip(String),
    #[error("unzipped size {0} exceeds the limit")]
    TooLarge(u64),
    #[error("entry {0:?} escapes the package root")]
    UnsafePath(String),
    #[error("unpacking into {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// AWS's limit on the unzipped size of a package.
pub const MAX_UNZIPPED_SIZE: u64 = 262_144_000;

/// Checks that `zip` is a readable archive within the unzipped-size limit; returns that size.
pub fn validate_zip(zip: &[u8]) -> Result<u64, ZipError> {
    let mut archive =
        ZipArchive::new(io::Cursor::new(zip)).map_err(|e| ZipError::NotAZip(e.to_string()))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| ZipError::NotAZip(e.to_string()))?;
        total = total.saturating_add(entry.size());
    }
    if total >= MAX_UNZIPPED_SIZE {
        return Err(ZipError::TooLarge(total));
    }
    Ok(total)
}

/// Where unpacked packages live.
#[derive(Debug, Clone)]
pub struct CodeDirs {
    root: PathBuf,
}

impl CodeDirs {
    pub fn new(root: impl Into<PathBuf>) -> CodeDirs {
        CodeDirs { root: root.into() }
    }

    /// The directory a package with this digest unpacks to.
    pub fn dir(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(sha256_hex)
    }

    /// Unpacks the zip at `zip_path` unless already done; returns the task root. Blocking.
    pub fn ensure_unpacked(&self, sha256_hex: &str, zip_path: &Path) -> Result<PathBuf, ZipError> {
        let dest = self.dir(sha256_hex);
        if dest.is_dir() {
            return Ok(dest);
        }
        let io_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| ZipError::Io { path, source }
        };
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let tmp = self
            .root
            .join(format!(".{sha256_hex}.{}.{}", std::process::id(), unique()));
        let result = unpack_into(zip_path, &tmp);
        if let Err(e) = result {
            let _ = make_writable_and_remove(&tmp);
            return Err(e);
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(dest),
            // Another environment finished the same package first: use theirs.
            Err(_) if dest.is_dir() => {
                let _ = make_writable_and_remove(&tmp);
                Ok(dest)
            }
            Err(e) => Err(ZipError::Io {
                path: dest.display().to_string(),
                source: e,
            }),
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn unpack_into(zip_path: &Path, dest: &Path) -> Result<(), ZipError> {
    use std::os::unix::fs::PermissionsExt;
    let io_err = |path: &Path, source| ZipError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(zip_path).map_err(|e| io_err(zip_path, e))?;
    let mut archive = ZipArchive::new(file).map_err(|e| ZipError::NotAZip(e.to_string()))?;
    fs::create_dir_all(dest).map_err(|e| io_err(dest, e))?;
    let mut links = Vec::new();
    let mut dirs = vec![dest.to_path_buf()];
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| ZipError::NotAZip(e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(ZipError::UnsafePath(entry.name().to_owned()));
        };
        let path = dest.join(&rel);
        let mode = entry.unix_mode();
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(|e| io_err(&path, e))?;
            dirs.push(path);
            continue;
        }
        if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
            let mut target = String::new();
            io::Read::read_to_string(&mut entry, &mut target).map_err(|e| io_err(&path, e))?;
            links.push((path, target));
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
            dirs.push(parent.to_path_buf());
        }
        {
            let _no_fork = crate::forks::writing();
            let mut out = File::create(&path).map_err(|e| io_err(&path, e))?;
            io::copy(&mut entry, &mut out).map_err(|e| io_err(&path, e))?;
        }
        // Keep the execute bits the package carries (a `bootstrap` must stay executable);
        // packages built without Unix modes get AWS's default 0644, or 0755 for `bootstrap`.
        let default = if rel.as_os_str() == "bootstrap" {
            0o755
        } else {
            0o644
        };
        let perm = mode
            .map(|m| m & 0o777)
            .filter(|m| *m != 0)
            .unwrap_or(default);
        fs::set_permissions(&path, fs::Permissions::from_mode(perm & !0o222))
            .map_err(|e| io_err(&path, e))?;
    }
    for (path, target) in links {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        std::os::unix::fs::symlink(&target, &path).map_err(|e| io_err(&path, e))?;
    }
    dirs.sort();
    dirs.dedup();
    for d in dirs.iter().rev() {
        fs::set_permissions(d, fs::Permissions::from_mode(0o555)).map_err(|e| io_err(d, e))?;
    }
    Ok(())
}

/// Removes a tree this module made read-only.
pub fn make_writable_and_remove(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        return Ok(());
    }
    fn walk(p: &Path) -> io::Result<()> {
        let meta = fs::symlink_metadata(p)?;
        if meta.is_dir() {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755))?;
            for e in fs::read_dir(p)? {
                walk(&e?.path())?;
            }
        }
        Ok(())
    }
    walk(dir)?;
    fs::remove_dir_all(dir)
}
