//! Concurrency admission: the account pool, reserved concurrency and provisioned concurrency.
//!
//! Every running invocation holds a [`Permit`]. A function with reserved concurrency `N` may run
//! `N` invocations and no more, whatever the account does; its `N` are carved out of the account
//! limit. A function without reserved concurrency first uses its provisioned concurrency (also
//! carved out), then shares what remains of the account limit with every other such function.
//! Refusals carry AWS's `Reason`. The hot path is a few atomic operations: no lock, no await.
//!
//! The per-function scaling rate (AWS: 1,000 new environments per 10 s) is a token bucket
//! consulted only when an environment is about to be created.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::error::ThrottleReason;

const NONE: u32 = u32::MAX;

/// Usage and limits of one function, shared by every snapshot of it.
#[derive(Debug)]
pub(crate) struct FunctionUsage {
    in_use: AtomicU32,
    reserved: AtomicU32,
    provisioned: AtomicU32,
    /// Environments (busy or idle) dedicated to a tenant, across the function's versions.
    tenant_envs: AtomicU32,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl FunctionUsage {
    #[cfg(test)]
    pub fn in_use(&self) -> u32 {
        self.in_use.load(Ordering::Acquire)
    }
}

/// One tenant-dedicated environment's place in its function's tenant-environment limit; the
/// environment holds it for its whole life.
#[derive(Debug)]
pub(crate) struct TenantSlot {
    usage: Arc<FunctionUsage>,
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        self.usage.tenant_envs.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The account's concurrency.
#[derive(Debug)]
pub(crate) struct Admission {
    limit: u32,
    min_unreserved: u32,
    /// Concurrency carved out by reserved and provisioned settings.
    carved: AtomicU32,
    /// Unreserved slots in use.
    unreserved_in_use: AtomicU32,
    functions: Mutex<HashMap<String, Arc<FunctionUsage>>>,
    /// New environments per second per function, and the burst.
    scaling_per_sec: f64,
    scaling_burst: f64,
}

/// One running invocation's share of concurrency; dropping it frees the share.
#[derive(Debug)]
pub(crate) struct Permit {
    admission: Arc<Admission>,
    usage: Arc<FunctionUsage>,
    unreserved: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.usage.in_use.fetch_sub(1, Ordering::AcqRel);
        if self.unreserved {
            self.admission
                .unreserved_in_use
                .fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Admission {
    /// `scaling` is new environments per 10 seconds per function.
    pub fn new(limit: u32, min_unreserved: u32, scaling: u32) -> Arc<Admission> {
        Arc::new(Admission {
            limit,
            min_unreserved,
            carved: AtomicU32::new(0),
            unreserved_in_use: AtomicU32::new(0),
            functions: Mutex::new(HashMap::new()),
            scaling_per_sec: f64::from(scaling) / 10.0,
            scaling_burst: f64::from(scaling),
        })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn min_unreserved(&self) -> u32 {
        self.min_unreserved
    }

    /// What remains for functions without reserved concurrency.
    pub fn unreserved_limit(&self) -> u32 {
        self.limit
            .saturating_sub(self.carved.load(Ordering::Acquire))
    }

    /// The shared usage record of `function`, created on first use.
    pub fn usage(&self, function: &str) -> Arc<FunctionUsage> {
        let mut functions = self.functions.lock().expect("admission lock");
        functions
            .entry(function.to_owned())
            .or_insert_with(|| {
                Arc::new(FunctionUsage {
                    in_use: AtomicU32::new(0),
                    reserved: AtomicU32::new(NONE),
                    provisioned: AtomicU32::new(0),
                    tenant_envs: AtomicU32::new(0),
                    bucket: Mutex::new(Bucket {
                        tokens: self.scaling_burst,
                        at: Instant::now(),
                    }),
                })
            })
            .clone()
    }

    /// Records a function's settings; `carved_total` is the account-wide carve-out after it.
    pub fn configure(
        &self,
        function: &str,
        reserved: Option<u32>,
        provisioned: u32,
        carved_total: u32,
    ) {
        let usage = self.usage(function);
        usage
            .reserved
            .store(reserved.unwrap_or(NONE), Ordering::Release);
        usage.provisioned.store(provisioned, Ordering::Release);
        self.carved.store(carved_total, Ordering::Release);
    }

    /// Forgets a deleted function (its running invocations keep their permits).
    pub fn remove(&self, function: &str, carved_total: u32) {
        self.functions
            .lock()
            .expect("admission lock")
            .remove(function);
        self.carved.store(carved_total, Ordering::Release);
    }

    /// Admits one invocation of the function using `usage`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, usage: &Arc<FunctionUsage>) -> Result<Permit, ThrottleReason> {
        let reserved = usage.reserved.load(Ordering::Acquire);
        if reserved != NONE {
            let ok = usage
                .in_use
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < reserved).then_some(n + 1)
                })
                .is_ok();
            return if ok {
                Ok(Permit {
                    admission: self.clone(),
                    usage: usage.clone(),
                    unreserved: false,
                })
            } else {
                Err(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
            };
        }
        let n = usage.in_use.fetch_add(1, Ordering::AcqRel);
        if n < usage.provisioned.load(Ordering::Acquire) {
            return Ok(Permit {
                admission: self.clone(),
                usage: usage.clone(),
                unreserved: false,
            });
        }
        let limit = self.unreserved_limit();
        let ok = self
            .unreserved_in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u < limit).then_some(u + 1)
            })
            .is_ok();
        if ok {
            Ok(Permit {
                admission: self.clone(),
                usage: usage.clone(),
                unreserved: true,
            })
        } else {
            usage.in_use.fetch_sub(1, Ordering::AcqRel);
            Err(ThrottleReason::ConcurrentInvocationLimitExceeded)
        }
    }

    /// A place for one more tenant-dedicated environment of the function. AWS allows 2,500 such
    /// environments, busy or idle, per 1,000 of the function's concurrency (its reserved
    /// concurrency, or the account's); `None` means that limit is reached.
    pub fn tenant_slot(&self, usage: &Arc<FunctionUsage>) -> Option<TenantSlot> {
        let reserved = usage.reserved.load(Ordering::Acquire);
        let concurrency = if reserved == NONE {
            self.limit
        } else {
            reserved
        };
        let limit = (u64::from(concurrency) * 5 / 2).min(u64::from(u32::MAX)) as u32;
        usage
            .tenant_envs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| TenantSlot {
                usage: usage.clone(),
            })
    }

    /// Takes a token for one new environment of the function (scaling rate).
    pub fn may_scale(&self, usage: &FunctionUsage) -> bool {
        let mut b = usage.bucket.lock().expect("bucket lock");
        let now = Instant::now();
        let refill = now.duration_since(b.at).as_secs_f64() * self.scaling_per_sec;
        b.tokens = (b.tokens + refill).min(self.scaling_burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reserved_concurrency_caps_a_function() {
        let a = Admission::new(1000, 100, 1000);
        a.configure("f", Some(1), 0, 1);
        let u = a.usage("f");
        let first = a.admit(&u).unwrap();
        assert_eq!(
            a.admit(&u).unwrap_err(),
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded
        );
        drop(first);
        assert!(a.admit(&u).is_ok());
    }

    #[tokio::test]
    async fn zero_reserved_refuses_everything() {
        let a = Admission::new(1000, 100, 1000);
        a.configure("f", Some(0), 0, 0);
        assert!(a.admit(&a.usage("f")).is_err());
    }

    #[tokio::test]
    async fn the_unreserved_pool_is_shared_and_shrinks_with_reservations() {
        let a = Admission::new(3, 0, 1000);
        a.configure("reserved", Some(1), 0, 1);
        let (f, g) = (a.usage("f"), a.usage("g"));
        let _p1 = a.admit(&f).unwrap();
        let _p2 = a.admit(&g).unwrap();
        assert_eq!(
            a.admit(&f).unwrap_err(),
            ThrottleReason::ConcurrentInvocationLimitExceeded
        );
        assert_eq!(f.in_use(), 1, "a refused invocation holds nothing");
        let _r = a.admit(&a.usage("reserved")).unwrap();
    }

    #[tokio::test]
    async fn provisioned_concurrency_is_used_before_the_shared_pool() {
        let a = Admission::new(2, 0, 1000);
        a.configure("p", None, 1, 1);
        let p = a.usage("p");
        let _first = a.admit(&p).unwrap();
        let _second = a.admit(&p).unwrap();
        assert_eq!(
            a.admit(&p).unwrap_err(),
            ThrottleReason::ConcurrentInvocationLimitExceeded
        );
    }

    #[tokio::test]
    async fn tenant_environments_are_limited_to_two_and_a_half_per_unit_of_concurrency() {
        let a = Admission::new(1000, 100, 1000);
        a.configure("f", Some(2), 0, 2);
        let u = a.usage("f");
        let slots: Vec<_> = (0..5).map_while(|_| a.tenant_slot(&u)).collect();
        assert_eq!(slots.len(), 5);
        assert!(a.tenant_slot(&u).is_none());
        drop(slots);
        assert!(
            a.tenant_slot(&u).is_some(),
            "a retired environment frees its slot"
        );
        a.configure("f", None, 0, 0);
        let held: Vec<_> = (0..3000).map_while(|_| a.tenant_slot(&u)).collect();
        assert_eq!(held.len(), 2500);
    }

    #[tokio::test(start_paused = true)]
    async fn scaling_is_limited_to_the_rate() {
        let a = Admission::new(1000, 100, 20);
        let u = a.usage("f");
        assert_eq!(
            (0..30).filter(|_| a.may_scale(&u)).count(),
            20,
            "a burst of one window's worth"
        );
        tokio::time::advance(std::time::Duration::from_millis(500)).await;
        assert_eq!(
            (0..30).filter(|_| a.may_scale(&u)).count(),
            1,
            "2 per second refill"
        );
    }
}
