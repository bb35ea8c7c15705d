//! Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s): per-qualifier settings of asynchronous
//! invocation, with AWS's validation of destinations.

use std::sync::Arc;

use invokd_model::spec::{EventInvokeConfigInput, Page};
use invokd_model::{EventInvokeConfig, Function, FunctionRef, Qualifier};

use crate::Engine;
use crate::error::{Error, Result};
use crate::functions::paginate;
use crate::ids::now_ms;

/// One qualifier's configuration, as responses render it.
#[derive(Debug, Clone)]
pub struct EventConfigView {
    /// The qualified ARN (`…:$LATEST`, `…:1`, `…:alias`).
    pub function_arn: String,
    pub config: EventInvokeConfig,
}

const NO_FUNCTION: &str = "The function doesn't exist.";

impl Engine {
    /// The function and the qualifier key (`$LATEST` when unqualified) the request names.
    fn config_target(
        &self,
        r: &FunctionRef,
        qualifier: Option<&str>,
    ) -> Result<(Arc<Function>, String)> {
        let q = Self::effective_qualifier(r, qualifier)?.unwrap_or_else(|| "$LATEST".into());
        self.check_scope(r)?;
        let f = self
            .inner
            .registry
            .function(&r.name)
            .ok_or_else(|| Error::FunctionNotFoundAs(NO_FUNCTION.into()))?;
        if Self::resolve_qualifier(&f, &Qualifier::interpret(&q)).is_none() {
            return Err(Error::FunctionNotFoundAs(NO_FUNCTION.into()));
        }
        Ok((f, q))
    }

    fn missing_config(&self, r: &FunctionRef, q: &str) -> Error {
        Error::FunctionNotFoundAs(format!(
            "The function {} doesn't have an EventInvokeConfig",
            self.scope().qualified_arn(&r.name, q)
        ))
    }

    /// PutFunctionEventInvokeConfig (`replace`) or UpdateFunctionEventInvokeConfig (merge).
    pub async fn put_event_invoke_config(
        &self,
        input: EventInvokeConfigInput,
        replace: bool,
    ) -> Result<EventConfigView> {
        let (f, key) = self.config_target(&input.function, input.qualifier.as_deref())?;
        if !replace && !f.event_invoke_configs.contains_key(&key) {
            return Err(self.missing_config(&input.function, &key));
        }
        if input.maximum_retry_attempts.is_none()
            && input.maximum_event_age.is_none()
            && !input.destination_config_given
        {
            return Err(Error::InvalidParameter(
                "You must specify at least one of error handling or destination setting.".into(),
            ));
        }
        self.check_destinations(&f, &input)?;
        let arn = self.scope().qualified_arn(f.name.as_str(), &key);
        let view = self
            .modify(f.name.as_str(), None, false, |f| {
                let base = if replace {
                    EventInvokeConfig::default()
                } else {
                    f.event_invoke_configs
                        .get(&key)
                        .cloned()
                        .unwrap_or_default()
                };
                let config = EventInvokeConfig {
                    maximum_retry_attempts: input
                        .maximum_retry_attempts
                        .or(base.maximum_retry_attempts),
                    maximum_event_age: input.maximum_event_age.or(base.maximum_event_age),
                    on_success: input.on_success.clone().unwrap_or(base.on_success),
                    on_failure: input.on_failure.clone().unwrap_or(base.on_failure),
                    last_modified_ms: now_ms(),
                };
                f.event_invoke_configs.insert(key.clone(), config);
                Ok(None)
            })
            .await?;
        Ok(EventConfigView {
            function_arn: arn,
            config: view.function.event_invoke_configs[&key].clone(),
        })
    }

    fn check_destinations(&self, f: &Function, input: &EventInvokeConfigInput) -> Result<()> {
        let success = input.on_success.clone().flatten();
        let failure = input.on_failure.clone().flatten();
        let describe = || {
            let part = |kind: &str, d: &Option<String>| match d {
                Some(d) => format!("{kind}(destination={d})"),
                None => "null".into(),
            };
            format!(
                "The provided destination config DestinationConfig(onSuccess={}, onFailure={}) is invalid.",
                part("OnSuccess", &success),
                part("OnFailure", &failure)
            )
        };
        for (dest, on_failure) in [(&success, false), (&failure, true)] {
            let Some(dest) = dest else { continue };
            let service = dest.split(':').nth(2).unwrap_or_default();
            match service {
                "sqs" | "sns" | "events" => {}
                "s3" if on_failure => {}
                "lambda" => {
                    let r = FunctionRef::parse(dest, invokd_model::NameShape::Namespaced).map_err(
                        |_| {
                            Error::InvalidParameter(format!(
                                "The destination ARN {dest} is invalid."
                            ))
                        },
                    )?;
                    if r.name == f.name.as_str() {
                        return Err(Error::InvalidParameter(
                            "You can't specify the function as a destination for itself.".into(),
                        ));
                    }
                    let exists =
                        self.check_scope(&r).is_ok() && self.inner.registry.get(&r.name).is_some();
                    if !exists {
                        return Err(Error::InvalidParameter(format!(
                            "The destination ARN {dest} is invalid."
                        )));
                    }
                }
                _ => return Err(Error::InvalidParameter(describe())),
            }
        }
        Ok(())
    }

    /// GetFunctionEventInvokeConfig.
    pub fn get_event_invoke_config(
        &self,
        r: &FunctionRef,
        qualifier: Option<&str>,
    ) -> Result<EventConfigView> {
        let q = Self::effective_qualifier(r, qualifier)?.unwrap_or_else(|| "$LATEST".into());
        self.check_scope(r)?;
        let f = self.inner.registry.function(&r.name);
        let config = f
            .and_then(|f| f.event_invoke_configs.get(&q).cloned())
            .ok_or_else(|| self.missing_config(r, &q))?;
        Ok(EventConfigView {
            function_arn: self.scope().qualified_arn(&r.name, &q),
            config,
        })
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        r: &FunctionRef,
        qualifier: Option<&str>,
    ) -> Result<()> {
        let view = self.get_event_invoke_config(r, qualifier)?;
        let key = view
            .function_arn
            .rsplit(':')
            .next()
            .unwrap_or("$LATEST")
            .to_owned();
        self.modify(&r.name, None, false, |f| {
            f.event_invoke_configs.remove(&key);
            Ok(None)
        })
        .await
        .map(|_| ())
    }

    /// ListFunctionEventInvokeConfigs.
    pub fn list_event_invoke_configs(
        &self,
        r: &FunctionRef,
        page: &Page,
    ) -> Result<(Vec<EventConfigView>, Option<String>)> {
        self.check_scope(r)?;
        let f = self
            .inner
            .registry
            .function(&r.name)
            .ok_or_else(|| Error::FunctionNotFoundAs(NO_FUNCTION.into()))?;
        let views = f
            .event_invoke_configs
            .iter()
            .map(|(q, c)| EventConfigView {
                function_arn: self.scope().qualified_arn(f.name.as_str(), q),
                config: c.clone(),
            })
            .collect();
        paginate(views, page, |v| v.function_arn.clone())
    }
}
