//! Runtime processes started ahead of need, so that a cold start does not wait for the kernel.
//!
//! Moving a process into a cgroup makes the kernel wait for an RCU grace period (the writer side
//! of `cgroup_threadgroup_rwsem`): 13–15 ms measured on this project's cgroup v1 hosts, most of a
//! cold start, where fork and exec take about a millisecond. A *spare* has done that part
//! already: forked with the parent-death signal, in its own process group, joined to a fresh
//! memory cgroup, and executed as invokd's exec helper ([`helper_main`]), which waits on its
//! standard input (under the normal policy, so a request wakes it at once; it switches to
//! `SCHED_BATCH` just before executing the runtime). Starting an environment from a spare sets the group's limit to
//! the function's memory, writes the program, arguments, environment and working directory to
//! the helper, and the helper executes the runtime in place: same pid, process group and cgroup,
//! so the function still never runs an instruction outside its limit. A failed `execve` is
//! reported on a close-on-exec pipe (descriptor 3 in the helper), as the standard library does
//! for `Command::spawn`, so a bad `bootstrap` gets the same error either way.
//!
//! One thread, alive as long as the [`Spares`] (the parent-death signal follows the *thread* that
//! forked), starts spares and refills the stock after each one is taken. Spares serve only
//! cgroup limits and programs given by path; otherwise, and while the stock is empty, a process is
//! started directly with [`Process::spawn`].

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};

use tokio::io::AsyncReadExt as _;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

use crate::cgroup::{MemoryLimiter, Prepared};
use crate::process::{Exec, Process, SpawnSpec, prepare_child, spawn_error};

/// The argument that makes the `invokd` binary run [`helper_main`].
pub const HELPER_ARG: &str = "__exec-helper";

/// The limit a spare's group has until it is used: the smallest function's, far above what the
/// waiting helper needs.
const WAITING_LIMIT: u64 = 128 << 20;

/// How long after a spare is taken the next one is started (unless another is taken sooner).
const REFILL_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

/// Spare processes, and the thread that keeps them stocked.
#[derive(Debug)]
pub struct Spares {
    ready: Mutex<Vec<Spare>>,
    wanted: usize,
    refill: Mutex<Option<mpsc::Sender<()>>>,
    closed: AtomicBool,
}

impl Spares {
    /// Keeps `wanted` spares executing `helper` (the `invokd` binary) in groups of `limiter`.
    /// `None` when there is nothing to gain: no spares wanted, or no cgroups to join. Must be
    /// called within a Tokio runtime, which the helpers' pipes and children are registered with.
    pub fn start(helper: PathBuf, wanted: usize, limiter: &MemoryLimiter) -> Option<Arc<Spares>> {
        if wanted == 0 || matches!(limiter, MemoryLimiter::Watchdog) {
            return None;
        }
        let (tx, rx) = mpsc::channel();
        let spares = Arc::new(Spares {
            ready: Mutex::new(Vec::with_capacity(wanted)),
            wanted,
            refill: Mutex::new(Some(tx.clone())),
            closed: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&spares);
        let limiter = limiter.clone();
        let runtime = tokio::runtime::Handle::current();
        let started = std::thread::Builder::new()
            .name("invokd-spares".into())
            .spawn(move || {
                let _entered = runtime.enter();
                stock(&weak, &rx, &helper, &limiter, &runtime);
            });
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start the spare-process thread; starting every process on demand");
            return None;
        }
        let _ = tx.send(());
        Some(spares)
    }

    /// Starts `spec` in a spare when one is ready, else directly.
    pub async fn spawn(&self, spec: &SpawnSpec, limiter: &MemoryLimiter) -> io::Result<Process> {
        let spare = match (spec.memory_limit, spec.program.is_absolute()) {
            (Some(_), true) => self.take(),
            _ => None,
        };
        match spare {
            Some(spare) => match spare.start(spec).await {
                Ok(p) => Ok(p),
                Err(Failure::Exec(e)) => Err(e),
                Err(Failure::Spare(e)) => {
                    tracing::warn!(error = %e, "a spare process could not be used; starting one directly");
                    Process::spawn(spec, limiter)
                }
            },
            None => Process::spawn(spec, limiter),
        }
    }

    fn take(&self) -> Option<Spare> {
        let spare = self.ready.lock().expect("spares lock").pop();
        if let Some(tx) = self.refill.lock().expect("spares lock").as_ref() {
            let _ = tx.send(());
        }
        spare
    }

    /// Stops the spares and removes their groups (at shutdown); no more are started.
    pub async fn discard(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.refill.lock().expect("spares lock").take();
        let spares = std::mem::take(&mut *self.ready.lock().expect("spares lock"));
        for spare in spares {
            spare.discard().await;
        }
    }
}

/// The stocking thread: starts spares until `wanted` are ready, then waits to be asked again.
fn stock(
    spares: &Weak<Spares>,
    asked: &mpsc::Receiver<()>,
    helper: &Path,
    limiter: &MemoryLimiter,
    runtime: &tokio::runtime::Handle,
) {
    let mut n = 0u64;
    while asked.recv().is_ok() {
        // Let the runtime that was just started go first: moving the next spare into its cgroup
        // holds the kernel's cgroup_threadgroup_rwsem for a grace period, and every fork and
        // thread creation on the host waits behind it, the new runtime's own included. Another
        // cold start meanwhile means demand: refill at once.
        if let Err(mpsc::RecvTimeoutError::Disconnected) = asked.recv_timeout(REFILL_DELAY) {
            return;
        }
        loop {
            let Some(spares) = spares.upgrade() else {
                return;
            };
            if spares.closed.load(Ordering::SeqCst)
                || spares.ready.lock().expect("spares lock").len() >= spares.wanted
            {
                break;
            }
            n += 1;
            match Spare::new(helper, limiter, n) {
                Ok(spare) if spares.closed.load(Ordering::SeqCst) => {
                    runtime.block_on(spare.discard());
                }
                Ok(spare) => spares.ready.lock().expect("spares lock").push(spare),
                Err(e) => {
                    tracing::warn!(error = %e, helper = %helper.display(), "cannot start a spare process; starting processes on demand until the next try");
                    break;
                }
            }
        }
    }
}

/// A helper waiting for what to execute.
#[derive(Debug)]
struct Spare {
    child: Child,
    group: Prepared,
    /// The helper's standard input.
    request: std::fs::File,
    /// Closed by a successful `execve`; carries its errno otherwise.
    status: OwnedFd,
    output: pipe::Receiver,
}

/// Why a spare did not become the process.
enum Failure {
    /// The program could not be executed: the error for the caller.
    Exec(io::Error),
    /// The spare could not be used (it died, its group could not be limited).
    Spare(io::Error),
}

impl Spare {
    /// Starts a helper in a new group. Blocks until it has joined the group and executed.
    fn new(helper: &Path, limiter: &MemoryLimiter, n: u64) -> io::Result<Spare> {
        let group = limiter.prepare(WAITING_LIMIT, &format!("spare-{n}"))?;
        let started = Self::spawn_helper(helper, &group);
        match started {
            Ok((child, request, status, output)) => Ok(Spare {
                child,
                group,
                request,
                status,
                output,
            }),
            Err(e) => {
                group.abandon();
                Err(e)
            }
        }
    }

    fn spawn_helper(
        helper: &Path,
        group: &Prepared,
    ) -> io::Result<(Child, std::fs::File, OwnedFd, pipe::Receiver)> {
        use nix::fcntl::OFlag;
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from);
        let (output_read, output_write) = pipe()?;
        let (request_read, request_write) = pipe()?;
        let (status_read, status_write) = pipe()?;
        let spec = SpawnSpec {
            program: helper.to_owned(),
            args: vec![HELPER_ARG.into()],
            cwd: PathBuf::from("/"),
            env: Vec::new(),
            memory_limit: None,
            name: String::new(),
        };
        let mut cmd = Command::new(helper);
        cmd.arg(HELPER_ARG)
            .env_clear()
            .stdin(Stdio::from(request_read))
            .stdout(Stdio::from(output_write.try_clone()?))
            .stderr(Stdio::from(output_write))
            .process_group(0)
            .kill_on_drop(true);
        prepare_child(
            &mut cmd,
            group.procs.as_ref().map(|fd| fd.as_raw_fd()),
            Exec::new(&spec)?,
            Some(status_write.as_raw_fd()),
        );
        let child = {
            let _fork = crate::forks::forking();
            cmd.spawn()
        }?;
        drop(status_write);
        Ok((
            child,
            std::fs::File::from(request_write),
            status_read,
            pipe::Receiver::from_owned_fd(output_read)?,
        ))
    }

    /// Executes `spec` in this spare.
    async fn start(self, spec: &SpawnSpec) -> Result<Process, Failure> {
        let Spare {
            mut child,
            group,
            mut request,
            status,
            output,
        } = self;
        let handed = (|| {
            if child.try_wait()?.is_some() {
                return Err(io::Error::other("the spare process has exited"));
            }
            if let Some(bytes) = spec.memory_limit {
                group.set_limit(bytes)?;
            }
            request.write_all(&encode(spec)?)
        })();
        drop(request);
        if let Err(e) = handed {
            let _ = child.start_kill();
            let _ = child.wait().await;
            group.abandon();
            return Err(Failure::Spare(e));
        }
        let mut errno = Vec::new();
        let read = async {
            pipe::Receiver::from_owned_fd(status)?
                .read_to_end(&mut errno)
                .await
        };
        if let Err(e) = read.await {
            let _ = child.start_kill();
            let _ = child.wait().await;
            group.abandon();
            return Err(Failure::Spare(e));
        }
        if let Ok(code) = <[u8; 4]>::try_from(errno.as_slice()) {
            let _ = child.wait().await;
            group.abandon();
            let e = io::Error::from_raw_os_error(i32::from_le_bytes(code));
            return Err(Failure::Exec(spawn_error(&spec.program, &e)));
        }
        Ok(Process::from_started(child, output, Some(group)))
    }

    async fn discard(mut self) {
        drop(self.request);
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.group.abandon();
    }
}

/// The request on the helper's standard input: its length, then items, each a little-endian
/// `u32` length followed by that many bytes: the argument count, the environment count, the
/// working directory, then the arguments (the program first) and the `NAME=value` environment,
/// as `execve` takes them.
///
/// The helper reads exactly that length rather than up to end-of-file: a process forked by invokd
/// at the same moment (the next spare, which is started as soon as this one is taken) holds a copy
/// of the pipe's write end until it executes, which after joining its cgroup is 10–20 ms later.
fn encode(spec: &SpawnSpec) -> io::Result<Vec<u8>> {
    let exec = Exec::new(spec)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a program path is required"))?;
    let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "argument too long");
    let count = |n: usize| {
        u32::try_from(n)
            .map(u32::to_le_bytes)
            .map_err(|_| too_long())
    };
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(&[0; 4]);
    let mut put = |bytes: &[u8]| -> io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| too_long())?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    put(&count(exec.argv.len())?)?;
    put(&count(exec.envp.len())?)?;
    put(spec.cwd.as_os_str().as_bytes())?;
    for s in exec.argv.iter().chain(&exec.envp) {
        put(s.to_bytes())?;
    }
    let len = u32::try_from(out.len() - 4).map_err(|_| too_long())?;
    out[..4].copy_from_slice(&len.to_le_bytes());
    Ok(out)
}

/// What the helper executes.
struct Request {
    program: std::ffi::CString,
    cwd: std::ffi::CString,
    argv: Vec<std::ffi::CString>,
    envp: Vec<std::ffi::CString>,
}

fn decode(mut input: &[u8]) -> Option<Request> {
    let mut next = || -> Option<&[u8]> {
        let len = u32::from_le_bytes(input.get(..4)?.try_into().ok()?) as usize;
        let item = input.get(4..4 + len)?;
        input = &input[4 + len..];
        Some(item)
    };
    let count = |b: &[u8]| Some(u32::from_le_bytes(b.try_into().ok()?) as usize);
    let c = |b: &[u8]| std::ffi::CString::new(b).ok();
    let argc = count(next()?)?;
    let envc = count(next()?)?;
    let cwd = c(next()?)?;
    let argv = (0..argc).map(|_| c(next()?)).collect::<Option<Vec<_>>>()?;
    let envp = (0..envc).map(|_| c(next()?)).collect::<Option<Vec<_>>>()?;
    Some(Request {
        program: argv.first()?.clone(),
        cwd,
        argv,
        envp,
    })
}

/// The exec helper (`invokd __exec-helper`): reads a request from standard input, makes
/// `/dev/null` its standard input, moves to the working directory and executes the program. On
/// failure it writes the errno to descriptor 3 and exits 127; at end of input before a request
/// (the spare was discarded) it exits 0.
pub fn helper_main() -> ! {
    let mut stdin = io::stdin().lock();
    let mut len = [0; 4];
    if stdin.read_exact(&mut len).is_err() {
        // End of input before a request: the spare was discarded.
        std::process::exit(0);
    }
    let mut input = vec![0; u32::from_le_bytes(len) as usize];
    let errno = match stdin
        .read_exact(&mut input)
        .ok()
        .and_then(|()| decode(&input))
    {
        Some(request) => exec(&request),
        None => nix::errno::Errno::EINVAL,
    };
    // SAFETY: descriptor 3 is the status pipe invokd placed there before executing the helper;
    // it stays open for the helper's life.
    #[allow(unsafe_code)]
    let status = unsafe { std::os::fd::BorrowedFd::borrow_raw(3) };
    let _ = nix::unistd::write(status, &(errno as i32).to_le_bytes());
    std::process::exit(127);
}

/// Executes `request`; returns only on failure.
fn exec(request: &Request) -> nix::errno::Errno {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // SAFETY: as in `helper_main`.
    #[allow(unsafe_code)]
    let status = unsafe { std::os::fd::BorrowedFd::borrow_raw(3) };
    let steps = || -> nix::Result<std::convert::Infallible> {
        fcntl(status, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        // The Rust runtime ignores SIGPIPE and an ignored signal stays ignored across `execve`;
        // a runtime must get the default, as the standard library gives a child it spawns.
        // SAFETY: restoring the default disposition installs no handler.
        #[allow(unsafe_code)]
        unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        }?;
        let null = std::fs::File::open("/dev/null").map_err(|_| nix::errno::Errno::ENOENT)?;
        nix::unistd::dup2_stdin(&null)?;
        nix::unistd::chdir(request.cwd.as_c_str())?;
        // The spare waited under the normal policy, so the request woke it at once (under
        // SCHED_BATCH it waited for the invokd thread that wrote the request to yield its core,
        // ~0.2 ms of every cold start); the runtime runs under SCHED_BATCH like any other.
        crate::process::set_batch_policy();
        nix::unistd::execve(&request.program, &request.argv, &request.envp)
    };
    match steps() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_decodes_to_what_was_encoded() {
        let spec = SpawnSpec {
            program: "/var/task/bootstrap".into(),
            args: vec!["-x".into(), "".into()],
            cwd: "/var/task".into(),
            env: vec![
                ("B".into(), "2".into()),
                ("A".into(), "1=one".into()),
                ("B".into(), "3".into()),
            ],
            memory_limit: Some(1),
            name: "n".into(),
        };
        let bytes = encode(&spec).unwrap();
        assert_eq!(
            bytes[..4],
            u32::try_from(bytes.len() - 4).unwrap().to_le_bytes()
        );
        let r = decode(&bytes[4..]).unwrap();
        assert_eq!(r.program.to_bytes(), b"/var/task/bootstrap");
        assert_eq!(r.cwd.to_bytes(), b"/var/task");
        let argv: Vec<_> = r.argv.iter().map(|a| a.to_bytes()).collect();
        assert_eq!(argv, [&b"/var/task/bootstrap"[..], b"-x", b""]);
        let envp: Vec<_> = r.envp.iter().map(|a| a.to_bytes()).collect();
        // As `Command::envs`: a name given twice takes its last value.
        assert_eq!(envp, [&b"A=1=one"[..], b"B=3"]);
    }

    #[test]
    fn a_truncated_request_is_refused() {
        let spec = SpawnSpec {
            program: "/p".into(),
            args: vec!["a".into()],
            cwd: "/".into(),
            env: Vec::new(),
            memory_limit: None,
            name: String::new(),
        };
        let bytes = &encode(&spec).unwrap()[4..];
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
    }
}
