//! Everything an engine operation can refuse, with the context a client needs.
//!
//! Variants name *what* went wrong in domain terms; `server/src/error.rs` alone decides which AWS
//! exception each becomes. Function errors are not here: a function that fails is a successful
//! invocation with an error body.

use invokd_model::Violations;
use invokd_model::policy::Denial;

/// Which limit a throttled invocation hit (`TooManyRequestsException.Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleReason {
    /// The account-wide concurrency pool is exhausted.
    ConcurrentInvocationLimitExceeded,
    /// The function's reserved concurrency is exhausted (or zero).
    ReservedFunctionConcurrentInvocationLimitExceeded,
    /// The host's memory budget for environments is spent, or the function's environment cap
    /// was reached and no environment came free within the function's timeout.
    HostCapacityExceeded,
    /// A tenant-isolated function has as many tenant environments as its concurrency allows.
    TenantEnvironmentLimitExceeded,
}

impl ThrottleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::ConcurrentInvocationLimitExceeded => {
                "ConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::HostCapacityExceeded => "ConcurrentInvocationLimitExceeded",
            // AWS documents only the message ("Rate exceeded") for this limit; the reason is
            // the closest of the model's values.
            ThrottleReason::TenantEnvironmentLimitExceeded => "FunctionInvocationRateLimitExceeded",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Members broke model constraints (`ValidationException`).
    #[error(transparent)]
    Validation(#[from] Violations),
    /// A parameter is unusable (`InvalidParameterValueException`), in AWS's words.
    #[error("{0}")]
    InvalidParameter(String),
    /// The request body or a header is malformed (`InvalidRequestContentException`).
    #[error("{0}")]
    InvalidRequestContent(String),
    /// No such function, version or alias; carries the ARN AWS prints.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    /// A missing alias or other resource, in the exact words AWS uses (`ResourceNotFoundException`).
    #[error("{0}")]
    FunctionNotFoundAs(String),
    /// No provisioned-concurrency configuration for that qualifier.
    #[error("No Provisioned Concurrency Config found for this function")]
    ProvisionedConfigNotFound,
    /// The ARN names another region.
    #[error("Functions from '{arn_region}' are not reachable in this region ('{region}')")]
    WrongRegion { arn_region: String, region: String },
    /// The ARN names another account, which the caller may not reach.
    #[error("cross-account access to {0} is not allowed")]
    OtherAccount(String),
    /// CreateFunction for a name in use.
    #[error("Function already exist: {0}")]
    FunctionExists(String),
    /// The `RevisionId` given is not the current one.
    #[error(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
    )]
    RevisionMismatch,
    /// The `RevisionId` given to AddPermission or RemovePermission is not the policy's.
    #[error(
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id"
    )]
    PolicyRevisionMismatch,
    /// The resource-based policy would grow past its limit (`PolicyLengthExceededException`).
    #[error(
        "The final policy size ({0}) is bigger than the limit ({limit}).",
        limit = crate::permissions::MAX_POLICY_BYTES
    )]
    PolicyLengthExceeded(usize),
    /// The caller may not perform the action on the resource (`AccessDeniedException`).
    #[error("User: {principal} is not authorized to perform: {action} on resource: {resource} {}", denial.reason(action))]
    AccessDenied {
        principal: String,
        action: String,
        resource: String,
        denial: Denial,
    },
    /// A conflicting state (`ResourceConflictException`), in AWS's words.
    #[error("{0}")]
    Conflict(String),
    /// A request or package over a size limit (`RequestEntityTooLargeException`).
    #[error("{0}")]
    TooLarge(String),
    /// The invocation is part of a loop and the function's recursion config stops loops.
    #[error(
        "Lambda has detected your function being invoked in a recursive loop with other Amazon Web Services resources and stopped your function's invocation."
    )]
    RecursiveInvocation,
    /// The invocation cannot be admitted now.
    #[error("Rate Exceeded.")]
    Throttled(ThrottleReason),
    /// The function's runtime cannot run on this host (`InvalidRuntimeException`).
    #[error("{0}")]
    InvalidRuntime(String),
    /// The service is stopping.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// Durable state failed; details are for the log only.
    #[error("store: {0}")]
    Store(#[from] invokd_store::Error),
    /// Anything else internal; details are for the log only.
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
