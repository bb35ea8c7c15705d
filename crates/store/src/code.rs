//! Content-addressed storage of deployment packages.
//!
//! A package is written once, as `<dir>/<sha256-hex>.zip`: to a temporary file first, fsync'd,
//! then renamed into place and the directory fsync'd, so a reader never sees a partial package and
//! a stored package survives a crash. These are blocking file operations; async callers run them
//! on the blocking pool.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use invokd_model::CodeRef;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct CodeStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

impl CodeStore {
    /// Uses (and creates) `dir` for packages.
    pub fn open(dir: impl Into<PathBuf>) -> Result<CodeStore> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(CodeStore { dir })
    }

    /// Digest of a package as AWS reports it (`CodeSha256`) and as the storage key.
    pub fn digest(zip: &[u8]) -> CodeRef {
        let digest = Sha256::digest(zip);
        let hex = digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        CodeRef {
            sha256: BASE64.encode(digest),
            sha256_hex: hex,
            size: zip.len() as u64,
        }
    }

    /// Stores a package (a no-op when an identical one is stored) and returns its reference.
    pub fn put(&self, zip: &[u8]) -> Result<CodeRef> {
        let code = Self::digest(zip);
        let path = self.path(&code.sha256_hex);
        if path.exists() {
            return Ok(code);
        }
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", code.sha256_hex, std::process::id()));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(zip).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(code)
    }

    /// Where the package with this digest lives.
    pub fn path(&self, sha256_hex: &str) -> PathBuf {
        self.dir.join(format!("{sha256_hex}.zip"))
    }

    /// Reads a whole package.
    pub fn read(&self, sha256_hex: &str) -> Result<Vec<u8>> {
        let path = self.path(sha256_hex);
        fs::read(&path).map_err(io(&path))
    }
}
