//! Per-environment memory limits.
//!
//! Where the host lets invokd create cgroups, each runtime process gets its own memory cgroup
//! capped at the function's `MemorySize` (no swap), so the kernel OOM-kills exactly that
//! environment, and the cgroup's peak usage is the REPORT line's `Max Memory Used`. Both cgroup
//! v2 (a delegated subtree with the memory controller) and v1 (a writable `memory` hierarchy) are
//! used. Elsewhere invokd falls back to a watchdog that samples the process's resident set every
//! 100 ms and kills the process group when it crosses the limit: coarser (a fast allocation can
//! overshoot between samples) but it needs no privileges.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How this host limits memory.
#[derive(Debug, Clone)]
pub enum MemoryLimiter {
    /// cgroup v2: `base` is a cgroup whose children may use the memory controller.
    V2 { base: PathBuf },
    /// cgroup v1: `base` is a directory in the memory hierarchy.
    V1 { base: PathBuf },
    /// No writable cgroups: sample RSS and kill on excess.
    Watchdog,
}

impl MemoryLimiter {
    /// Finds the best mechanism available; `tag` names invokd's own cgroup (unique per process).
    pub fn detect(tag: &str) -> MemoryLimiter {
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if let Some(base) = try_v2(&own, tag) {
            return MemoryLimiter::V2 { base };
        }
        if let Some(base) = try_v1(&own, tag) {
            return MemoryLimiter::V1 { base };
        }
        MemoryLimiter::Watchdog
    }

    pub fn describe(&self) -> String {
        match self {
            MemoryLimiter::V2 { base } => format!("cgroup v2 at {}", base.display()),
            MemoryLimiter::V1 { base } => format!("cgroup v1 at {}", base.display()),
            MemoryLimiter::Watchdog => "RSS watchdog (no writable memory cgroup)".into(),
        }
    }

    /// Prepares a limit of `limit_bytes` for a process about to start. With cgroups, the group
    /// is created and limited now and [`Prepared::procs`] is a descriptor of its `cgroup.procs`:
    /// the child writes `0` to it before `exec`, so it never runs a single instruction of the
    /// function outside its limit. `name` must be unique among live groups.
    pub fn prepare(&self, limit_bytes: u64, name: &str) -> io::Result<Prepared> {
        let (dir, v2) = match self {
            MemoryLimiter::V2 { base } => (base.join(name), true),
            MemoryLimiter::V1 { base } => (base.join(name), false),
            MemoryLimiter::Watchdog => {
                return Ok(Prepared {
                    kind: PreparedKind::Watchdog(limit_bytes),
                    procs: None,
                });
            }
        };
        fs::create_dir_all(&dir)?;
        write_limit(&dir, v2, limit_bytes)?;
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        let kind = if v2 {
            PreparedKind::V2(dir)
        } else {
            PreparedKind::V1(dir)
        };
        Ok(Prepared {
            kind,
            procs: Some(procs.into()),
        })
    }
}

/// Sets the memory limit of the group at `dir`, with swap kept out of it.
fn write_limit(dir: &Path, v2: bool, limit_bytes: u64) -> io::Result<()> {
    if v2 {
        fs::write(dir.join("memory.max"), limit_bytes.to_string())?;
        let _ = fs::write(dir.join("memory.swap.max"), "0");
    } else {
        // v1 refuses a memory limit above the memory+swap one: lower or raise them in the order
        // that keeps memory <= memory+swap at every step.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        let memory = dir.join("memory.limit_in_bytes");
        let current = fs::read_to_string(&memory)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if current == Some(limit_bytes) {
            // Set by this function before, with the swap limit and swappiness: a spare's group
            // already has the most common function's limit, so most cold starts skip three
            // cgroup writes.
            return Ok(());
        }
        if current.is_some_and(|c| limit_bytes > c) {
            // Without the memsw limit the group could swap instead of hitting its limit.
            let _ = fs::write(&memsw, limit_bytes.to_string());
            fs::write(&memory, limit_bytes.to_string())?;
        } else {
            fs::write(&memory, limit_bytes.to_string())?;
            let _ = fs::write(&memsw, limit_bytes.to_string());
        }
        let _ = fs::write(dir.join("memory.swappiness"), "0");
    }
    Ok(())
}

#[derive(Debug)]
enum PreparedKind {
    V2(PathBuf),
    V1(PathBuf),
    Watchdog(u64),
}

/// A limit ready for a process that is not started yet.
#[derive(Debug)]
pub struct Prepared {
    kind: PreparedKind,
    /// The group's `cgroup.procs`, for the child to join before `exec` (close-on-exec).
    pub procs: Option<std::os::fd::OwnedFd>,
}

impl Prepared {
    /// The guard of the started process `pid`.
    pub fn started(self, pid: u32) -> MemoryGuard {
        let kind = match self.kind {
            PreparedKind::V2(dir) => GuardKind::V2(dir),
            PreparedKind::V1(dir) => GuardKind::V1(dir),
            PreparedKind::Watchdog(limit) => {
                let state = Arc::new(WatchState::default());
                let task = tokio::spawn(watch(pid, limit, state.clone()));
                GuardKind::Watchdog { state, task }
            }
        };
        MemoryGuard { kind, pid }
    }

    /// Changes the limit of a group whose process is not started yet (a spare's), and forgets
    /// the peak usage so far (v1), which was the helper's, not the function's.
    pub fn set_limit(&self, limit_bytes: u64) -> io::Result<()> {
        match &self.kind {
            PreparedKind::V2(dir) => write_limit(dir, true, limit_bytes),
            PreparedKind::V1(dir) => {
                write_limit(dir, false, limit_bytes)?;
                let _ = fs::write(dir.join("memory.max_usage_in_bytes"), "0");
                Ok(())
            }
            PreparedKind::Watchdog(_) => Err(io::Error::other("no group to limit")),
        }
    }

    /// Removes a group whose process never started.
    pub fn abandon(self) {
        if let PreparedKind::V1(dir) | PreparedKind::V2(dir) = self.kind {
            let _ = fs::remove_dir(dir);
        }
    }
}
fn try_v2(own: &str, tag: &str) -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("cgroup.controllers").exists() {
        return None;
    }
    let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let parent = root.join(rel.trim_start_matches('/'));
    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == "memory")
        && fs::write(parent.join("cgroup.subtree_control"), "+memory").is_err()
    {
        return None;
    }
    let base = parent.join(tag);
    fs::create_dir_all(&base).ok()?;
    if fs::write(base.join("cgroup.subtree_control"), "+memory").is_err() {
        let _ = fs::remove_dir(&base);
        return None;
    }
    Some(base)
}

fn try_v1(own: &str, tag: &str) -> Option<PathBuf> {
    let rel = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    })?;
    let mount = Path::new("/sys/fs/cgroup/memory");
    let parent = mount.join(rel.trim_start_matches('/'));
    let base = if parent.join("memory.limit_in_bytes").exists() {
        parent.join(tag)
    } else if mount.join("memory.limit_in_bytes").exists() {
        mount.join(tag)
    } else {
        return None;
    };
    fs::create_dir_all(&base).ok()?;
    // Prove we can set a limit before relying on it.
    let probe = base.join("probe");
    let ok = fs::create_dir(&probe).is_ok()
        && fs::write(probe.join("memory.limit_in_bytes"), "134217728").is_ok();
    let _ = fs::remove_dir(&probe);
    if ok {
        Some(base)
    } else {
        let _ = fs::remove_dir(&base);
        None
    }
}

/// Removes the per-process cgroup tree made by [`MemoryLimiter::detect`] (at shutdown).
pub fn remove_base(limiter: &MemoryLimiter) {
    if let MemoryLimiter::V1 { base } | MemoryLimiter::V2 { base } = limiter {
        if let Ok(entries) = fs::read_dir(base) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
        let _ = fs::remove_dir(base);
    }
}

#[derive(Debug, Default)]
pub struct WatchState {
    peak: AtomicU64,
    killed: AtomicBool,
}

async fn watch(pid: u32, limit: u64, state: Arc<WatchState>) {
    let page = 4096u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let Ok(statm) = fs::read_to_string(format!("/proc/{pid}/statm")) else {
            return;
        };
        let rss = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0)
            * page;
        state.peak.fetch_max(rss, Ordering::Relaxed);
        if rss > limit {
            state.killed.store(true, Ordering::Relaxed);
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            return;
        }
    }
}

#[derive(Debug)]
enum GuardKind {
    V2(PathBuf),
    V1(PathBuf),
    Watchdog {
        state: Arc<WatchState>,
        task: tokio::task::JoinHandle<()>,
    },
}

/// The limit on one process; dropping it removes the cgroup (or stops the watchdog).
#[derive(Debug)]
pub struct MemoryGuard {
    kind: GuardKind,
    pid: u32,
}

impl MemoryGuard {
    /// Peak memory of the environment so far, in bytes.
    pub fn peak_bytes(&self) -> Option<u64> {
        self.probe().peak_bytes()
    }

    /// The pids in the environment's cgroup, or `None` without one.
    pub fn members(&self) -> Option<Vec<u32>> {
        match &self.kind {
            GuardKind::V1(dir) | GuardKind::V2(dir) => {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).ok()?;
                Some(
                    procs
                        .lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .collect(),
                )
            }
            GuardKind::Watchdog { .. } => None,
        }
    }

    /// A cheap, shareable reader of the same figure.
    pub fn probe(&self) -> MemoryProbe {
        match &self.kind {
            GuardKind::V2(dir) => MemoryProbe::File {
                path: dir.join("memory.peak"),
                pid: self.pid,
            },
            GuardKind::V1(dir) => MemoryProbe::File {
                path: dir.join("memory.max_usage_in_bytes"),
                pid: self.pid,
            },
            GuardKind::Watchdog { state, .. } => MemoryProbe::Sampled {
                state: state.clone(),
                pid: self.pid,
            },
        }
    }

    /// Whether the limit was hit and the kernel (or the watchdog) killed a process for it.
    pub fn oom_killed(&self) -> bool {
        match &self.kind {
            GuardKind::V2(dir) => fs::read_to_string(dir.join("memory.events"))
                .ok()
                .and_then(|s| field(&s, "oom_kill"))
                .is_some_and(|n| n > 0),
            GuardKind::V1(dir) => {
                let oom = fs::read_to_string(dir.join("memory.oom_control")).ok();
                oom.as_deref()
                    .and_then(|s| field(s, "oom_kill"))
                    .is_some_and(|n| n > 0)
                    || read_u64(&dir.join("memory.failcnt")).is_some_and(|n| n > 0)
                        && oom
                            .as_deref()
                            .and_then(|s| field(s, "under_oom"))
                            .is_some_and(|n| n > 0)
            }
            GuardKind::Watchdog { state, .. } => state.killed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for MemoryGuard {
    fn drop(&mut self) {
        match &self.kind {
            GuardKind::V1(dir) | GuardKind::V2(dir) => {
                // Succeeds once every process of the group has exited; a straggler keeps the
                // directory until shutdown removes the whole tree.
                let _ = fs::remove_dir(dir);
            }
            GuardKind::Watchdog { task, .. } => task.abort(),
        }
    }
}

/// Reads an environment's peak memory without owning its process.
#[derive(Debug, Clone)]
pub enum MemoryProbe {
    File { path: PathBuf, pid: u32 },
    Sampled { state: Arc<WatchState>, pid: u32 },
    Process { pid: u32 },
}

impl MemoryProbe {
    pub fn peak_bytes(&self) -> Option<u64> {
        match self {
            MemoryProbe::File { path, pid } => read_u64(path).or_else(|| vm_hwm(*pid)),
            MemoryProbe::Sampled { state, pid } => Some(
                state
                    .peak
                    .load(Ordering::Relaxed)
                    .max(vm_hwm(*pid).unwrap_or(0)),
            ),
            MemoryProbe::Process { pid } => vm_hwm(*pid),
        }
    }
}

fn read_u64(p: &Path) -> Option<u64> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn field(s: &str, key: &str) -> Option<u64> {
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(char::is_whitespace)?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `VmHWM` (peak resident set) of one process, in bytes.
pub fn vm_hwm(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
