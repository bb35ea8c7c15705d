//! Lambda runtime identifiers and the families invokd groups them into.
//!
//! A runtime identifier is what a function's `Runtime` field holds (`python3.12`,
//! `provided.al2023`). The family decides how an execution environment starts the function:
//! custom runtimes run the package's own `bootstrap`, Python runs the handler under the official
//! `awslambdaric`. Which families a host can actually run is the supervisor's business; this
//! module only knows which identifiers AWS accepts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Runtimes AWS accepts for new functions, in the order AWS lists them in its error message.
pub const SUPPORTED_RUNTIMES: &[&str] = &[
    "nodejs20.x",
    "python3.14",
    "provided.al2023",
    "python3.12",
    "python3.13",
    "nodejs24.x",
    "nodejs22.x",
    "java25",
    "python3.10",
    "python3.11",
    "java21",
    "ruby3.3",
    "ruby3.4",
    "ruby3.2",
    "python3.8",
    "python3.9",
    "java17",
    "nodejs16.x",
    "dotnet10",
    "dotnet8",
    "java11",
    "dotnet6",
    "nodejs18.x",
    "provided.al2",
    "java8.al2",
];

/// Runtimes that exist in the service model but that AWS refuses for new functions.
/// `provided` is not here: invokd keeps running it (Amazon Linux 1 custom runtimes).
const DEPRECATED_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "java8",
    "python2.7",
    "python3.6",
    "python3.7",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
];

/// How a runtime starts a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeFamily {
    /// `provided*`: the package's `bootstrap` is the runtime.
    Provided,
    Python,
    Node,
    Java,
    Ruby,
    Dotnet,
}

/// A runtime identifier AWS accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Runtime(String);

/// Why a runtime identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// Not a runtime AWS knows.
    Unknown(String),
    /// A runtime AWS no longer accepts for creating or updating functions.
    Deprecated(String),
}

impl Runtime {
    pub fn try_new(s: &str) -> Result<Runtime, RuntimeError> {
        if SUPPORTED_RUNTIMES.contains(&s) || s == "provided" {
            Ok(Runtime(s.to_owned()))
        } else if DEPRECATED_RUNTIMES.contains(&s) {
            Err(RuntimeError::Deprecated(s.to_owned()))
        } else {
            Err(RuntimeError::Unknown(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn family(&self) -> RuntimeFamily {
        let s = self.0.as_str();
        if s.starts_with("provided") {
            RuntimeFamily::Provided
        } else if s.starts_with("python") {
            RuntimeFamily::Python
        } else if s.starts_with("nodejs") {
            RuntimeFamily::Node
        } else if s.starts_with("java") {
            RuntimeFamily::Java
        } else if s.starts_with("ruby") {
            RuntimeFamily::Ruby
        } else {
            RuntimeFamily::Dotnet
        }
    }

    /// `AWS_EXECUTION_ENV`, which AWS sets for managed runtimes only.
    pub fn execution_env(&self) -> Option<String> {
        match self.family() {
            RuntimeFamily::Provided => None,
            _ => Some(format!("AWS_Lambda_{}", self.0)),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(
            Runtime::try_new("provided.al2023").unwrap().family(),
            RuntimeFamily::Provided
        );
        assert_eq!(
            Runtime::try_new("provided").unwrap().family(),
            RuntimeFamily::Provided
        );
        assert_eq!(
            Runtime::try_new("python3.12").unwrap().family(),
            RuntimeFamily::Python
        );
        assert_eq!(
            Runtime::try_new("PYTHON3.9"),
            Err(RuntimeError::Unknown("PYTHON3.9".into()))
        );
        assert_eq!(
            Runtime::try_new("go1.x"),
            Err(RuntimeError::Deprecated("go1.x".into()))
        );
    }

    #[test]
    fn execution_env_is_unset_for_custom_runtimes() {
        assert_eq!(
            Runtime::try_new("provided.al2").unwrap().execution_env(),
            None
        );
        assert_eq!(
            Runtime::try_new("python3.12")
                .unwrap()
                .execution_env()
                .as_deref(),
            Some("AWS_Lambda_python3.12")
        );
    }
}
