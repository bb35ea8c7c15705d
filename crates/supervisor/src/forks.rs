//! Keeps forks away from files being written, so that a freshly unpacked program can always be
//! executed.
//!
//! A forked child holds a copy of every descriptor of the server until it executes (`O_CLOEXEC`
//! only closes them at `execve`), and the kernel refuses to execute a file that any process holds
//! open for writing (`ETXTBSY`, "text file busy"). Between fork and exec an environment's child
//! also joins its cgroup, which can take a scheduler tick or an RCU grace period, so a package
//! unpacked on one thread while another thread starts an environment would otherwise fail to
//! start now and then. Forks share this lock (they run concurrently); writing a file takes it
//! alone. `Command::spawn` returns only once the child has executed or failed, so a fork holds
//! its share for exactly as long as the child can hold a copy of a descriptor.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static LOCK: RwLock<()> = RwLock::new(());

/// Held while a child process is forked and until it has executed.
pub(crate) fn forking() -> RwLockReadGuard<'static, ()> {
    // The lock guards no data, so a panic under it leaves nothing inconsistent.
    LOCK.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held while a file is open for writing.
pub(crate) fn writing() -> RwLockWriteGuard<'static, ()> {
    LOCK.write().unwrap_or_else(PoisonError::into_inner)
}
