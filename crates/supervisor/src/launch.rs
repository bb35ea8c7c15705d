//! How each runtime family is started: one "bootstrap" per family.
//!
//! * `provided*`: the package's own `bootstrap` executable is the runtime (AWS looks in
//!   `/var/task` then `/opt`; invokd has no layers, so only the task root).
//! * `python3.x`: the official runtime interface client, `python -m awslambdaric <handler>`, with
//!   the task root as working directory and on `PYTHONPATH`. The interpreter is the operator's
//!   (`--python`), which must have `awslambdaric` installed; this is checked once and a missing
//!   client is reported at invoke time with a hint in the log.
//!
//! Adding a family means adding a branch to [`Launcher::launch`] that names the program, its
//! arguments and the extra variables that family's runtime expects.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use invokd_model::{Runtime, RuntimeFamily};
use tokio::sync::OnceCell;

/// The command that starts a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Variables this family adds to the Lambda environment.
    pub env: Vec<(String, String)>,
}

/// Why a runtime cannot be started on this host.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LaunchError {
    /// A custom runtime package without an executable `bootstrap`.
    #[error("Couldn't find valid bootstrap(s): [{0}]")]
    NoBootstrap(String),
    /// A family invokd does not run.
    #[error("the {0} runtime is not supported by invokd yet")]
    UnsupportedFamily(String),
    /// The Python interpreter lacks `awslambdaric`.
    #[error(
        "the Python runtime interface client (awslambdaric) is not installed for {python}: {detail}"
    )]
    PythonClientMissing { python: String, detail: String },
    /// A Python function without a handler.
    #[error("a handler is required for the {0} runtime")]
    MissingHandler(String),
}

/// Starts runtimes of every supported family.
#[derive(Debug)]
pub struct Launcher {
    python: OsString,
    python_check: OnceCell<Result<(), String>>,
}

impl Launcher {
    /// `python` is the interpreter used for `python3.x` functions.
    pub fn new(python: impl Into<OsString>) -> Launcher {
        Launcher {
            python: python.into(),
            python_check: OnceCell::new(),
        }
    }

    /// The command for `runtime` with its package unpacked at `task_root`.
    pub async fn launch(
        &self,
        runtime: &Runtime,
        task_root: &Path,
        handler: Option<&str>,
    ) -> Result<Launch, LaunchError> {
        match runtime.family() {
            RuntimeFamily::Provided => {
                let bootstrap = task_root.join("bootstrap");
                if is_executable(&bootstrap) {
                    Ok(Launch {
                        program: bootstrap,
                        args: vec![],
                        env: vec![],
                    })
                } else {
                    Err(LaunchError::NoBootstrap(
                        "/var/task/bootstrap /opt/bootstrap".into(),
                    ))
                }
            }
            RuntimeFamily::Python => {
                let handler =
                    handler.ok_or_else(|| LaunchError::MissingHandler(runtime.to_string()))?;
                self.check_python().await?;
                Ok(Launch {
                    program: PathBuf::from(&self.python),
                    args: vec!["-m".into(), "awslambdaric".into(), handler.into()],
                    env: vec![
                        ("PYTHONPATH".into(), task_root.display().to_string()),
                        ("PYTHONUNBUFFERED".into(), "1".into()),
                        ("LC_CTYPE".into(), "C.UTF-8".into()),
                    ],
                })
            }
            other => Err(LaunchError::UnsupportedFamily(format!(
                "{other:?} ({runtime})"
            ))),
        }
    }

    async fn check_python(&self) -> Result<(), LaunchError> {
        let python = self.python.clone();
        let result = self
            .python_check
            .get_or_init(|| async move {
                let child = {
                    let _fork = crate::forks::forking();
                    tokio::process::Command::new(&python)
                        .args(["-c", "import awslambdaric"])
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::piped())
                        .kill_on_drop(true)
                        .spawn()
                };
                let out = match child {
                    Ok(child) => {
                        tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
                            .await
                    }
                    Err(e) => Ok(Err(e)),
                };
                match out {
                    Ok(Ok(o)) if o.status.success() => Ok(()),
                    Ok(Ok(o)) => Err(String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                        .to_owned()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out importing awslambdaric".into()),
                }
            })
            .await;
        result
            .clone()
            .map_err(|detail| LaunchError::PythonClientMissing {
                python: self.python.to_string_lossy().into_owned(),
                detail,
            })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
