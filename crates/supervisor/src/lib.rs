//! The process mechanism of execution environments.
//!
//! This crate knows how to turn a deployment package into a directory ([`unpack`]), how each
//! runtime family is started ([`launch`]), and how to run, limit, observe and stop one runtime
//! process ([`process`], [`cgroup`]). It knows nothing of invocations or the Runtime API: the
//! engine decides *when* to start or stop a process and *what* environment it gets.
//!
//! Every process is started in its own process group so that stopping an environment stops
//! everything the function spawned, and with a parent-death signal so that no function process
//! outlives invokd even if invokd itself is killed.

pub mod cgroup;
mod forks;
pub mod launch;
pub mod process;
pub mod spare;
pub mod unpack;

pub use cgroup::{MemoryLimiter, MemoryProbe};
pub use launch::{Launch, LaunchError, Launcher};
pub use process::{ExitReason, Process, SpawnSpec};
pub use spare::Spares;
pub use unpack::{CodeDirs, ZipError};
