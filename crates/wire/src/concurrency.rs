//! Shapes of the reserved- and provisioned-concurrency operations.

use serde::{Deserialize, Serialize};

/// `PutFunctionConcurrencyRequest` body and `Concurrency` / `GetFunctionConcurrencyResponse`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReservedConcurrency {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<i64>,
}

/// `PutProvisionedConcurrencyConfigRequest` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ProvisionedConcurrencyRequest {
    pub provisioned_concurrent_executions: Option<i64>,
}

/// A provisioned-concurrency configuration (Get/Put response, List item).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedConcurrencyConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    pub requested_provisioned_concurrent_executions: u32,
    pub available_provisioned_concurrent_executions: u32,
    pub allocated_provisioned_concurrent_executions: u32,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub last_modified: String,
}

/// `ListProvisionedConcurrencyConfigsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProvisionedConcurrencyConfigs {
    pub provisioned_concurrency_configs: Vec<ProvisionedConcurrencyConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}
