//! One runtime process: spawned in its own process group with stdout and stderr merged into one
//! pipe, limited in memory, signalled as a group, and reaped.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use crate::cgroup::{MemoryGuard, MemoryLimiter};

/// What to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// The complete environment: nothing is inherited from invokd.
    pub env: Vec<(String, String)>,
    /// Memory limit in bytes, or `None` for no limit.
    pub memory_limit: Option<u64>,
    /// Names the process's cgroup (a unique suffix is added per spawn).
    pub name: String,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Exited(i32),
    Signaled(i32),
}

impl ExitReason {
    /// Worded as AWS's `Runtime exited with error: ...` (Go's `ProcessState.String`).
    pub fn aws_text(self) -> String {
        match self {
            ExitReason::Exited(code) => format!("exit status {code}"),
            ExitReason::Signaled(sig) => format!("signal: {}", signal_name(sig)),
        }
    }

    pub fn is_clean(self) -> bool {
        self == ExitReason::Exited(0)
    }
}

fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(Signal::SIGKILL) => "killed".into(),
        Ok(Signal::SIGSEGV) => "segmentation fault".into(),
        Ok(Signal::SIGTERM) => "terminated".into(),
        Ok(Signal::SIGABRT) => "aborted".into(),
        Ok(Signal::SIGINT) => "interrupt".into(),
        Ok(Signal::SIGHUP) => "hangup".into(),
        Ok(Signal::SIGBUS) => "bus error".into(),
        Ok(Signal::SIGFPE) => "floating point exception".into(),
        Ok(Signal::SIGILL) => "illegal instruction".into(),
        Ok(Signal::SIGPIPE) => "broken pipe".into(),
        Ok(Signal::SIGQUIT) => "quit".into(),
        Ok(Signal::SIGUSR1) => "user defined signal 1".into(),
        Ok(Signal::SIGUSR2) => "user defined signal 2".into(),
        _ => format!("signal {sig}"),
    }
}

/// A running runtime process.
#[derive(Debug)]
pub struct Process {
    child: Child,
    pid: u32,
    output: Arc<pipe::Receiver>,
    memory: Option<MemoryGuard>,
    exited: Option<ExitReason>,
}

impl Process {
    /// Starts the process. Its stdout and stderr both go to [`Process::output`]; it joins its
    /// memory limit before it executes anything of the function.
    pub fn spawn(spec: &SpawnSpec, limiter: &MemoryLimiter) -> io::Result<Process> {
        let limit = match spec.memory_limit {
            Some(bytes) => match limiter.prepare(bytes, &unique_group_name(&spec.name)) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "could not prepare the memory limit; running without it");
                    None
                }
            },
            None => None,
        };
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let write_err: OwnedFd = write.try_clone()?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write_err))
            .process_group(0)
            .kill_on_drop(true);
        let procs = limit
            .as_ref()
            .and_then(|l| l.procs.as_ref())
            .map(AsRawFd::as_raw_fd);
        let exec = Exec::new(spec)?;
        prepare_child(&mut cmd, procs, exec, None);
        let spawned = {
            let _fork = crate::forks::forking();
            cmd.spawn()
        };
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                if let Some(l) = limit {
                    l.abandon();
                }
                return Err(spawn_error(&spec.program, &e));
            }
        };
        // `cmd` (and with it our copies of the pipe's write end) is dropped at the end of this
        // function, so the reader sees end-of-file once the function's processes are gone.
        let pid = child.id().unwrap_or(0);
        let output = Arc::new(pipe::Receiver::from_owned_fd(read)?);
        let memory = limit.map(|l| l.started(pid));
        Ok(Process {
            child,
            pid,
            output,
            memory,
            exited: None,
        })
    }

    /// A process started elsewhere (from a spare) in `group`.
    pub(crate) fn from_started(
        child: Child,
        output: pipe::Receiver,
        group: Option<crate::cgroup::Prepared>,
    ) -> Process {
        let pid = child.id().unwrap_or(0);
        Process {
            child,
            pid,
            output: Arc::new(output),
            memory: group.map(|g| g.started(pid)),
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The read end of the merged stdout/stderr pipe.
    pub fn output(&self) -> Arc<pipe::Receiver> {
        self.output.clone()
    }

    /// Waits for the process to exit. Cancel-safe.
    pub async fn wait(&mut self) -> ExitReason {
        if let Some(r) = self.exited {
            return r;
        }
        let reason = match self.child.wait().await {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                match (status.code(), status.signal()) {
                    (Some(code), _) => ExitReason::Exited(code),
                    (None, Some(sig)) => ExitReason::Signaled(sig),
                    (None, None) => ExitReason::Exited(-1),
                }
            }
            Err(_) => ExitReason::Exited(-1),
        };
        self.exited = Some(reason);
        reason
    }

    /// Sends `sig` to every process of the environment. With a cgroup, exactly its members are
    /// signalled. Without one, the process group is signalled only while its leader has not been
    /// reaped: afterwards its id could belong to someone else.
    pub fn signal_group(&self, sig: Signal) {
        if let Some(members) = self.memory.as_ref().and_then(MemoryGuard::members) {
            for pid in members {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), sig);
            }
            return;
        }
        if self.pid != 0 && self.exited.is_none() {
            let _ = killpg(Pid::from_raw(self.pid as i32), sig);
        }
    }
    /// Stops the process group: SIGTERM, then SIGKILL after `grace`. Returns how it ended.
    pub async fn stop(&mut self, grace: Duration) -> ExitReason {
        if let Some(r) = self.exited {
            self.signal_group(Signal::SIGKILL);
            return r;
        }
        if grace.is_zero() {
            self.signal_group(Signal::SIGKILL);
            return self.wait().await;
        }
        self.signal_group(Signal::SIGTERM);
        let reason = match tokio::time::timeout(grace, self.wait()).await {
            Ok(r) => r,
            Err(_) => {
                self.signal_group(Signal::SIGKILL);
                self.wait().await
            }
        };
        // The leader may exit on SIGTERM while children it spawned linger. Its group id cannot
        // have been reused in the moment since it was reaped, so signal the group directly.
        self.signal_group(Signal::SIGKILL);
        if self
            .memory
            .as_ref()
            .and_then(MemoryGuard::members)
            .is_none()
            && self.pid != 0
        {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        }
        reason
    }

    /// Peak memory used so far, in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        match &self.memory {
            Some(m) => m.peak_bytes(),
            None => crate::cgroup::vm_hwm(self.pid),
        }
    }

    /// A shareable reader of this process's peak memory.
    pub fn memory_probe(&self) -> crate::cgroup::MemoryProbe {
        match &self.memory {
            Some(m) => m.probe(),
            None => crate::cgroup::MemoryProbe::Process { pid: self.pid },
        }
    }

    /// Whether the memory limit killed the process.
    pub fn oom_killed(&self) -> bool {
        self.memory.as_ref().is_some_and(MemoryGuard::oom_killed)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Whatever the function left running goes with the environment.
        self.signal_group(Signal::SIGKILL);
    }
}

/// A cgroup name no other process of this server uses: a group is never shared with (or
/// removed under) another environment, even across engines in one process or restarts of one
/// environment whose previous group still has stragglers.
fn unique_group_name(base: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{base}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `SCHED_BATCH` takes no priority.
const BATCH_PARAM: nix::libc::sched_param = nix::libc::sched_param { sched_priority: 0 };

/// Puts the calling process under `SCHED_BATCH` (see [`prepare_child`]). Best effort: without it
/// the function only runs as an ordinary process would. Async-signal-safe (one system call).
pub(crate) fn set_batch_policy() {
    // SAFETY: sched_setscheduler(2) on the calling process with a valid parameter block.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::sched_setscheduler(0, nix::libc::SCHED_BATCH, &BATCH_PARAM);
    }
}

/// Prepares the child between fork and exec: it asks the kernel to SIGKILL it when invokd dies
/// (so no function process outlives the server, even after `kill -9`; the signal follows the
/// spawning *thread*, and environments are spawned from the runtime's worker threads, which live
/// as long as the server), and it joins its memory cgroup by writing `0` to `cgroup_procs`.
///
/// The function runs under `SCHED_BATCH`: the same CPU share as any process, but its wakeups do
/// not preempt the thread that woke it. Every invocation wakes the runtime from one of invokd's
/// worker threads (the answer to `/next`); without this the kernel switches to the runtime in the
/// middle of that thread's dispatch, the dispatch finishes only when it is scheduled again, and
/// on a small host that preemption is most of invokd's context switches (measured: about one per
/// invoke, and 13–35% of throughput at 8 concurrent invokes on 2 cores). The runtime still starts
/// at once on an idle core.
///
/// It then executes a program given by path itself, with `execve`: the standard library would use
/// `execvp`, which hands a file the kernel cannot run (a script without `#!`, another
/// architecture's binary) to `/bin/sh`, where AWS reports `exec format error`.
///
/// `status`, when given, is placed at descriptor 3 of the child (for the exec helper), and the
/// child keeps the normal policy: a spare switches to `SCHED_BATCH` itself just before it
/// executes the runtime ([`set_batch_policy`]), so that a cold start's request wakes it at once.
#[allow(unsafe_code)]
pub(crate) fn prepare_child(
    cmd: &mut Command,
    cgroup_procs: Option<std::os::fd::RawFd>,
    exec: Option<Exec>,
    status: Option<std::os::fd::RawFd>,
) {
    // SAFETY: the closure runs in the forked child before exec and only makes the system calls
    // prctl(2), sched_setscheduler(2), write(2), dup2(2), fcntl(2) and execve(2), all
    // async-signal-safe, on descriptors the parent keeps open until `spawn` returns and on
    // strings and pointer arrays built before the fork; it allocates nothing and touches no
    // memory shared with the parent. (The standard library sets
    // the child's `environ` only after the closure, so the environment is passed explicitly.)
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            if status.is_none() {
                set_batch_policy();
            }
            if let Some(fd) = cgroup_procs {
                let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
                nix::unistd::write(fd, b"0").map_err(io::Error::from)?;
            }
            if let Some(fd) = status
                && (nix::libc::dup2(fd, 3) < 0 || nix::libc::fcntl(3, nix::libc::F_SETFD, 0) < 0)
            {
                return Err(io::Error::last_os_error());
            }
            if let Some(exec) = &exec {
                nix::libc::execve(
                    exec.path.as_ptr(),
                    exec.argv_ptrs.as_ptr(),
                    exec.envp_ptrs.as_ptr(),
                );
                // Only returns on failure; the standard library reports this error to `spawn`.
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A program's path, argument vector and environment as `execve` takes them, built before the
/// fork.
pub(crate) struct Exec {
    pub(crate) path: std::ffi::CString,
    /// What the pointer arrays point to.
    pub(crate) argv: Vec<std::ffi::CString>,
    pub(crate) envp: Vec<std::ffi::CString>,
    /// NULL-terminated.
    argv_ptrs: Vec<*const nix::libc::c_char>,
    envp_ptrs: Vec<*const nix::libc::c_char>,
}

// SAFETY: the pointers point into `argv` and `envp`, which move with them and are never
// mutated.
#[allow(unsafe_code)]
unsafe impl Send for Exec {}
#[allow(unsafe_code)]
unsafe impl Sync for Exec {}

impl Exec {
    /// `None` for a bare name, which is searched in `PATH` by the standard library.
    pub(crate) fn new(spec: &SpawnSpec) -> io::Result<Option<Exec>> {
        use std::os::unix::ffi::OsStrExt as _;
        let bytes = spec.program.as_os_str().as_bytes();
        if !bytes.contains(&b'/') {
            return Ok(None);
        }
        let c = |s: &[u8]| {
            std::ffi::CString::new(s).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "an argument holds a NUL byte")
            })
        };
        let path = c(bytes)?;
        let argv = std::iter::once(Ok(path.clone()))
            .chain(spec.args.iter().map(|a| c(a.as_bytes())))
            .collect::<io::Result<Vec<_>>>()?;
        // As `Command::envs` does: a name given twice takes its last value.
        let env: std::collections::BTreeMap<&str, &str> = spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let envp = env
            .iter()
            .map(|(k, v)| c(format!("{k}={v}").as_bytes()))
            .collect::<io::Result<Vec<_>>>()?;
        let pointers = |strings: &[std::ffi::CString]| {
            let mut p: Vec<_> = strings.iter().map(|s| s.as_ptr()).collect();
            p.push(std::ptr::null());
            p
        };
        Ok(Some(Exec {
            path,
            argv_ptrs: pointers(&argv),
            envp_ptrs: pointers(&envp),
            argv,
            envp,
        }))
    }
}

/// A failed start, worded as AWS words it (Go's `fork/exec <path>: <errno text>`).
pub(crate) fn spawn_error(program: &std::path::Path, e: &io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    };
    io::Error::new(e.kind(), format!("fork/exec {}: {why}", program.display()))
}
