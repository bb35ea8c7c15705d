//! Function logs: one stream per execution environment, as CloudWatch Logs keeps them.
//!
//! A stream collects the runtime's stdout and stderr and the platform's `START`/`END`/`REPORT`
//! lines, in order, into `<logs>/<function>/<stream>.log` (AWS's stream name with `/` replaced by
//! `-`). Streams are bounded: one rotates to `.1` past [`LogLimits::stream_bytes`], and a function
//! keeps its newest [`LogLimits::streams_per_function`] streams. While an invocation asked for
//! `LogType: Tail`, the stream also captures what is written for it, of which the last 4 KB become
//! `X-Amz-Log-Result`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::net::unix::pipe;

/// How much log a function may keep.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    pub stream_bytes: u64,
    pub streams_per_function: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            stream_bytes: 8 << 20,
            streams_per_function: 32,
        }
    }
}

/// The last bytes an invocation wrote: what LogType Tail returns.
pub const TAIL_BYTES: usize = 4096;
const FLUSH_AT: usize = 16 << 10;

#[derive(Debug)]
struct Inner {
    file: Option<File>,
    written: u64,
    pending: Vec<u8>,
    capture: Option<Vec<u8>>,
}

/// One log stream.
#[derive(Debug)]
pub(crate) struct LogStream {
    pub name: String,
    path: PathBuf,
    limits: LogLimits,
    inner: Mutex<Inner>,
}

impl LogStream {
    /// Opens a new stream named `name` for `function` under `root`.
    pub fn open(root: &Path, function: &str, name: String, limits: LogLimits) -> LogStream {
        let dir = root.join(function);
        let _ = fs::create_dir_all(&dir);
        prune(&dir, limits.streams_per_function.saturating_sub(1));
        let path = dir.join(format!("{}.log", name.replace('/', "-")));
        let file = OpenOptions::new().create(true).append(true).open(&path);
        if let Err(e) = &file {
            tracing::warn!(path = %path.display(), error = %e, "cannot open log stream; function output is discarded");
        }
        LogStream {
            name,
            path,
            limits,
            inner: Mutex::new(Inner {
                file: file.ok(),
                written: 0,
                pending: Vec::new(),
                capture: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("log lock")
    }

    /// Appends bytes (function output or a platform line).
    pub fn append(&self, bytes: &[u8]) {
        let mut inner = self.lock();
        self.append_locked(&mut inner, bytes);
    }

    fn append_locked(&self, inner: &mut Inner, bytes: &[u8]) {
        inner.pending.extend_from_slice(bytes);
        if let Some(c) = inner.capture.as_mut() {
            c.extend_from_slice(bytes);
            if c.len() > 4 * TAIL_BYTES {
                let cut = c.len() - TAIL_BYTES;
                c.drain(..cut);
            }
        }
        if inner.pending.len() >= FLUSH_AT {
            self.flush_locked(inner);
        }
    }

    /// Reads whatever the process has written so far without waiting. Returns `false` at
    /// end-of-file (every writer closed the pipe).
    pub fn drain(&self, pipe: &pipe::Receiver) -> bool {
        let mut buf = [0u8; 16 << 10];
        let mut inner = self.lock();
        loop {
            match pipe.try_read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.append_locked(&mut inner, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    /// Starts capturing for `LogType: Tail`.
    pub fn start_capture(&self) {
        self.lock().capture = Some(Vec::with_capacity(512));
    }

    /// Stops capturing; returns the last [`TAIL_BYTES`] captured.
    pub fn take_capture(&self) -> Vec<u8> {
        let mut c = self.lock().capture.take().unwrap_or_default();
        if c.len() > TAIL_BYTES {
            c.drain(..c.len() - TAIL_BYTES);
        }
        c
    }

    /// Writes buffered lines to the file.
    pub fn flush(&self) {
        let mut inner = self.lock();
        self.flush_locked(&mut inner);
    }

    fn flush_locked(&self, inner: &mut Inner) {
        if inner.pending.is_empty() {
            return;
        }
        if inner.written >= self.limits.stream_bytes {
            let _ = fs::rename(&self.path, self.path.with_extension("log.1"));
            inner.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
            inner.written = 0;
        }
        if let Some(f) = inner.file.as_mut()
            && f.write_all(&inner.pending).is_ok()
        {
            inner.written += inner.pending.len() as u64;
        }
        inner.pending.clear();
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Deletes the oldest streams of a function until at most `keep` remain.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| {
            (
                e.metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH),
                e.path(),
            )
        })
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        let _ = fs::remove_file(path);
        let _ = fs::remove_file(path.with_extension("log.1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_last_four_kilobytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = LogStream::open(
            dir.path(),
            "f",
            "2026/01/01/[$LATEST]abc".into(),
            LogLimits::default(),
        );
        s.append(b"before\n");
        s.start_capture();
        s.append(&vec![b'a'; 10_000]);
        s.append(b"END\n");
        let tail = s.take_capture();
        assert_eq!(tail.len(), TAIL_BYTES);
        assert!(tail.ends_with(b"aEND\n"));
        s.flush();
        let text = fs::read(dir.path().join("f/2026-01-01-[$LATEST]abc.log")).unwrap();
        assert!(text.starts_with(b"before\n"));
        assert_eq!(text.len(), 7 + 10_000 + 4);
    }

    #[test]
    fn old_streams_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let limits = LogLimits {
            stream_bytes: 1 << 20,
            streams_per_function: 2,
        };
        for i in 0..4 {
            let s = LogStream::open(dir.path(), "f", format!("s{i}"), limits);
            s.append(b"x");
        }
        assert_eq!(fs::read_dir(dir.path().join("f")).unwrap().count(), 2);
    }
}
