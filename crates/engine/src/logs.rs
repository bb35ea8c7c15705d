//! Function logs: one stream per execution environment, as CloudWatch Logs keeps them.
//!
//! A stream collects the runtime's stdout and stderr and the platform's `START`/`END`/`REPORT`
//! lines, in order, into `<logs>/<function>/<stream>.log` (AWS's stream name with `/` replaced by
//! `-`). Streams are bounded: one rotates to `.1` past [`LogLimits::stream_bytes`], and a function
//! keeps its newest [`LogLimits::streams_per_function`] streams. While an invocation asked for
//! `LogType: Tail`, the stream also captures what is written for it, of which the last 4 KB become
//! `X-Amz-Log-Result`.
//!
//! Lines are buffered and written when an invocation ends ([`LogStream::flush_soon`]): at once if
//! the stream was last written more than [`FLUSH_INTERVAL`] ago, so a lone invoke's `REPORT` is
//! in the file when its response is; otherwise they are written with the first invocation that
//! ends after the interval or, if none does, by the environment's task when it is up
//! ([`LogStream::deferred_flush`]). A busy environment thus costs one `write`
//! and at most one wake-up of its task per interval instead of a `write` per invocation.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::unix::pipe;
use tokio::sync::Notify;
use tokio::time::Instant;

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
/// Most bytes [`LogStream::drain`] reads from a pipe at once.
const READ_CHUNK: usize = 16 << 10;

thread_local! {
    /// Where [`LogStream::drain`] reads into. Every invocation drains its environment's pipe
    /// twice, nearly always finding it empty: a zeroed 16 KiB array on the stack each time was
    /// measurable on the invoke path, and one buffer per thread costs less than one per
    /// environment.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(READ_CHUNK));
}

/// How long a busy stream's lines may wait in memory before they are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Inner {
    file: Option<File>,
    /// Whether the file was created (or that failed): see [`LogStream::new`].
    created: bool,
    written: u64,
    pending: Vec<u8>,
    capture: Option<Vec<u8>>,
    last_flush: Option<Instant>,
    /// When the pending lines are due, if [`LogStream::flush_soon`] deferred them.
    flush_due: Option<Instant>,
}

/// One log stream.
#[derive(Debug)]
pub(crate) struct LogStream {
    pub name: String,
    path: PathBuf,
    limits: LogLimits,
    inner: Mutex<Inner>,
    /// Tells [`LogStream::deferred_flush`] that a flush was deferred.
    deferred: Notify,
}

impl LogStream {
    /// Opens a new stream named `name` for `function` under `root`.
    /// A stream named `name` of `function`'s logs under `root`. Its file is created by
    /// [`LogStream::create_file`] or at the first write, not here: creating it (and pruning the
    /// function's oldest streams) is file-system work a cold start need not wait for, so the
    /// environment's task does it while the runtime starts.
    pub fn new(root: &Path, function: &str, name: String, limits: LogLimits) -> LogStream {
        let path = root
            .join(function)
            .join(format!("{}.log", name.replace('/', "-")));
        LogStream {
            name,
            path,
            limits,
            inner: Mutex::new(Inner {
                file: None,
                created: false,
                written: 0,
                pending: Vec::new(),
                capture: None,
                last_flush: None,
                flush_due: None,
            }),
            deferred: Notify::new(),
        }
    }

    /// Creates the stream's file, after deleting the function's oldest streams beyond its
    /// limit, unless that was done already.
    pub fn create_file(&self) {
        let mut inner = self.lock();
        self.create_file_locked(&mut inner);
    }

    fn create_file_locked(&self, inner: &mut Inner) {
        if std::mem::replace(&mut inner.created, true) {
            return;
        }
        if let Some(dir) = self.path.parent() {
            let _ = fs::create_dir_all(dir);
            prune(dir, self.limits.streams_per_function.saturating_sub(1));
        }
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(file) => inner.file = Some(file),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot open log stream; function output is discarded");
            }
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

    /// Appends the concatenation of `parts` (one line built in pieces, without formatting it
    /// into a string first).
    pub fn append_parts(&self, parts: &[&[u8]]) {
        let mut inner = self.lock();
        for part in parts {
            self.append_locked(&mut inner, part);
        }
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
        READ_BUF.with_borrow_mut(|buf| {
            let mut inner = self.lock();
            loop {
                buf.clear();
                match pipe.try_read_buf(buf) {
                    Ok(0) => return false,
                    Ok(n) => self.append_locked(&mut inner, &buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return false,
                }
            }
        })
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

    /// Writes buffered lines now if the stream has not been written for [`FLUSH_INTERVAL`],
    /// otherwise leaves them to the next call after the interval or, if none comes, to
    /// [`LogStream::deferred_flush`].
    pub fn flush_soon(&self) {
        let mut inner = self.lock();
        if inner.pending.is_empty() {
            return;
        }
        let due = inner.last_flush.map(|last| last + FLUSH_INTERVAL);
        match due {
            Some(due) if Instant::now() < due => {
                if inner.flush_due.is_none() {
                    inner.flush_due = Some(due);
                    drop(inner);
                    self.deferred.notify_one();
                }
            }
            _ => self.flush_locked(&mut inner),
        }
    }

    /// Completes when lines deferred by [`LogStream::flush_soon`] are due and have been written;
    /// pending until then. Cancel-safe: the environment's task polls it in its `select!` loop.
    pub async fn deferred_flush(&self) {
        loop {
            let due = self.lock().flush_due;
            match due {
                Some(due) => {
                    tokio::time::sleep_until(due).await;
                    self.flush();
                    return;
                }
                None => self.deferred.notified().await,
            }
        }
    }

    fn flush_locked(&self, inner: &mut Inner) {
        inner.flush_due = None;
        if inner.pending.is_empty() {
            return;
        }
        inner.last_flush = Some(Instant::now());
        self.create_file_locked(inner);
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
        let s = LogStream::new(
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

    #[tokio::test(start_paused = true)]
    async fn a_busy_stream_is_written_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let s = LogStream::new(dir.path(), "f", "s".into(), LogLimits::default());
        let file = dir.path().join("f/s.log");
        let written = || fs::read_to_string(&file).unwrap();

        // A lone invocation's lines are in the file as soon as it ends.
        s.append(b"REPORT 1\n");
        s.flush_soon();
        assert_eq!(written(), "REPORT 1\n");

        // The next ones, within the interval, wait for the environment's task.
        s.append(b"REPORT 2\n");
        s.flush_soon();
        s.append(b"REPORT 3\n");
        s.flush_soon();
        assert_eq!(written(), "REPORT 1\n");
        let begun = Instant::now();
        s.deferred_flush().await;
        assert_eq!(begun.elapsed(), FLUSH_INTERVAL);
        assert_eq!(written(), "REPORT 1\nREPORT 2\nREPORT 3\n");

        // Nothing deferred: the task's flush stays pending.
        let idle = tokio::time::timeout(10 * FLUSH_INTERVAL, s.deferred_flush()).await;
        assert!(idle.is_err());

        // Long after the last write, an invocation's lines are written at once again.
        s.append(b"REPORT 4\n");
        s.flush_soon();
        assert!(written().ends_with("REPORT 3\nREPORT 4\n"));

        // Deferred lines go out with the first invocation that ends after the interval; the
        // task then has nothing left to wait for.
        s.append(b"REPORT 5\n");
        s.flush_soon();
        tokio::time::advance(FLUSH_INTERVAL).await;
        s.append(b"REPORT 6\n");
        s.flush_soon();
        assert!(written().ends_with("REPORT 4\nREPORT 5\nREPORT 6\n"));
        let idle = tokio::time::timeout(10 * FLUSH_INTERVAL, s.deferred_flush()).await;
        assert!(idle.is_err());
    }

    #[test]
    fn the_file_is_created_on_request_or_at_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let s = LogStream::new(dir.path(), "f", "s".into(), LogLimits::default());
        assert!(!dir.path().join("f").exists(), "nothing on disk yet");
        s.create_file();
        assert_eq!(fs::read(dir.path().join("f/s.log")).unwrap(), b"");

        let lazy = LogStream::new(dir.path(), "f", "t".into(), LogLimits::default());
        lazy.append(b"line\n");
        lazy.flush();
        assert_eq!(fs::read(dir.path().join("f/t.log")).unwrap(), b"line\n");
    }

    #[test]
    fn old_streams_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let limits = LogLimits {
            stream_bytes: 1 << 20,
            streams_per_function: 2,
        };
        for i in 0..4 {
            let s = LogStream::new(dir.path(), "f", format!("s{i}"), limits);
            s.append(b"x");
        }
        assert_eq!(fs::read_dir(dir.path().join("f")).unwrap().count(), 2);
    }
}
