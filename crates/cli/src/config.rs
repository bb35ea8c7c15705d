//! Configuration of `invokd serve`: flags > `INVOKD_*` variables > TOML file > defaults,
//! validated into [`Config`] before anything binds or opens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use invokd_engine::EngineConfig;
use invokd_model::Scope;
use invokd_server::auth::{Auth, KeySpec, Keyring, Secret};
use serde::Deserialize;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (flag names with `_` for `-`).
    #[arg(long, env = "INVOKD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to serve the Lambda API on [default: 127.0.0.1:9001].
    #[arg(long, env = "INVOKD_LISTEN")]
    listen: Option<String>,
    /// Directory for the database, code packages and logs [default: ./.invokd].
    #[arg(long, env = "INVOKD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Region used in every ARN [default: us-east-1].
    #[arg(long, env = "INVOKD_REGION")]
    region: Option<String>,
    /// Account id used in every ARN [default: 000000000000].
    #[arg(long, env = "INVOKD_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Python interpreter (with awslambdaric installed) for python3.x functions [default: python3].
    #[arg(long, env = "INVOKD_PYTHON")]
    python: Option<PathBuf>,
    /// Seconds an idle execution environment is kept [default: 600].
    #[arg(long, env = "INVOKD_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// Seconds after which an environment is replaced when its invocation ends, however busy
    /// it is; AWS recycles environments too [default: 7200].
    #[arg(long, env = "INVOKD_MAX_ENVIRONMENT_LIFETIME")]
    max_environment_lifetime: Option<u64>,
    /// Seconds a runtime may take to initialise [default: 10].
    #[arg(long, env = "INVOKD_INIT_TIMEOUT")]
    init_timeout: Option<u64>,
    /// Processes kept started ahead of need, already inside a memory cgroup, so that a cold
    /// start does not wait for the kernel to move a process into one; 0 starts every process on
    /// demand [default: 2].
    #[arg(long, env = "INVOKD_SPARE_PROCESSES")]
    spare_processes: Option<usize>,
    /// Total MemorySize (MB) of environments that may exist at once [default: 3/4 of RAM].
    #[arg(long, env = "INVOKD_MEMORY_BUDGET_MB")]
    memory_budget_mb: Option<u32>,
    /// On-demand environments each function version may have at once: an invocation that finds
    /// them all busy waits (up to the function's timeout) for one to come back instead of
    /// starting another. Not an AWS setting; unset, every concurrent invocation gets its own
    /// environment, as on AWS [default: unlimited].
    #[arg(long, env = "INVOKD_MAX_ENVIRONMENTS_PER_FUNCTION")]
    max_environments_per_function: Option<u32>,
    /// Account concurrency limit [default: 1000].
    #[arg(long, env = "INVOKD_ACCOUNT_CONCURRENCY")]
    account_concurrency: Option<u32>,
    /// Concurrency reservations may never leave less than this unreserved [default: 100].
    #[arg(long, env = "INVOKD_MIN_UNRESERVED_CONCURRENCY")]
    min_unreserved_concurrency: Option<u32>,
    /// New environments each function may start per 10 seconds [default: 1000].
    #[arg(long, env = "INVOKD_SCALING_RATE")]
    scaling_rate: Option<u32>,
    /// Milliseconds between SIGTERM and SIGKILL when an environment stops [default: 500].
    #[arg(long, env = "INVOKD_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// Multiplies every asynchronous retry delay, backoff and event age (0.01: a minute is 0.6 s) [default: 1].
    #[arg(long, env = "INVOKD_ASYNC_RETRY_SCALE")]
    async_retry_scale: Option<f64>,
    /// Asynchronous events run at once [default: 64].
    #[arg(long, env = "INVOKD_ASYNC_WORKERS")]
    async_workers: Option<usize>,
    /// Endpoint of the SQS/SNS/EventBridge APIs that destinations and DLQs are sent to.
    #[arg(long, env = "INVOKD_AWS_ENDPOINT_URL")]
    aws_endpoint_url: Option<String>,
    /// Seconds requests in flight get to finish after SIGINT/SIGTERM [default: 30].
    #[arg(long, env = "INVOKD_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Option<u64>,
    /// Serve on a non-loopback address without authentication (local mode only).
    #[arg(long, env = "INVOKD_ALLOW_ANONYMOUS")]
    allow_anonymous: bool,
    /// `local` (any credentials, one account) or `sigv4` (signed requests, IAM policies) [default: local].
    #[arg(long, env = "INVOKD_AUTH")]
    auth: Option<String>,
    /// TOML file of the access keys `--auth sigv4` accepts: secrets, accounts, principals, policies.
    #[arg(long, env = "INVOKD_CREDENTIALS")]
    credentials: Option<PathBuf>,
    /// More logging: -v info, -vv debug (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// The TOML file: the same settings, all optional; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    python: Option<PathBuf>,
    idle_timeout: Option<u64>,
    max_environment_lifetime: Option<u64>,
    init_timeout: Option<u64>,
    spare_processes: Option<usize>,
    memory_budget_mb: Option<u32>,
    max_environments_per_function: Option<u32>,
    account_concurrency: Option<u32>,
    min_unreserved_concurrency: Option<u32>,
    scaling_rate: Option<u32>,
    shutdown_grace_ms: Option<u64>,
    async_retry_scale: Option<f64>,
    async_workers: Option<usize>,
    aws_endpoint_url: Option<String>,
    shutdown_timeout: Option<u64>,
    allow_anonymous: Option<bool>,
    auth: Option<String>,
    credentials: Option<PathBuf>,
}

/// The credentials file: one `[[key]]` table per access key; unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    principal: String,
    org_id: Option<String>,
    /// An IAM identity policy document (JSON).
    policy: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub engine: EngineConfig,
    /// Where destinations and dead-letter queues are sent, if anywhere.
    pub aws_endpoint_url: Option<String>,
    /// How long requests in flight may finish after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Local mode, or server mode with its keys.
    pub auth: Auth,
    pub verbosity: u8,
}

impl Config {
    pub fn load(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_raw = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:9001".into());
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            anyhow::anyhow!("invalid configuration: listen address {listen_raw:?} is not ADDR:PORT (for example 127.0.0.1:9001)")
        })?;
        let allow_anonymous = args.allow_anonymous || file.allow_anonymous.unwrap_or(false);
        let auth = load_auth(
            args.auth.or(file.auth).as_deref(),
            args.credentials.or(file.credentials).as_deref(),
        )?;
        match &auth {
            Auth::Local if !listen.ip().is_loopback() && !allow_anonymous => bail!(
                "invalid configuration: refusing to serve on {listen} without authentication. In local mode invokd accepts any credentials, \
                 so it only listens on loopback; pass --auth sigv4 --credentials FILE to authenticate every request, \
                 or --allow-anonymous to serve {listen} anyway"
            ),
            Auth::Sigv4(_) if allow_anonymous => bail!(
                "invalid configuration: --allow-anonymous is for local mode; with --auth sigv4 every request is authenticated \
                 and invokd may listen on any address, so remove --allow-anonymous (or INVOKD_ALLOW_ANONYMOUS)"
            ),
            _ => {}
        }
        let region = args
            .region
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        if !is_region(&region) {
            bail!("invalid configuration: region {region:?} is not a region name like us-east-1");
        }
        let account_id = args
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("invalid configuration: account id {account_id:?} must be 12 digits");
        }
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(".invokd"));
        let mut engine = EngineConfig::new(Scope::new(region, account_id), data_dir);
        if let Some(p) = args.python.or(file.python) {
            engine.python = p.into_os_string();
        }
        if let Some(s) = args.idle_timeout.or(file.idle_timeout) {
            if s == 0 {
                bail!("invalid configuration: idle timeout must be at least 1 second");
            }
            engine.idle_timeout = Duration::from_secs(s);
        }
        if let Some(s) = args
            .max_environment_lifetime
            .or(file.max_environment_lifetime)
        {
            if s == 0 {
                bail!("invalid configuration: max environment lifetime must be at least 1 second");
            }
            engine.max_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = args.init_timeout.or(file.init_timeout) {
            if s == 0 {
                bail!("invalid configuration: init timeout must be at least 1 second");
            }
            engine.init_timeout = Duration::from_secs(s);
        }
        if let Some(n) = args.spare_processes.or(file.spare_processes) {
            if n > 64 {
                bail!("invalid configuration: spare processes must be at most 64");
            }
            engine.spare_processes = n;
        }
        // Spares execute this very binary as their exec helper: through /proc/self/exe, the
        // running file itself even after a package upgrade replaced the one at its path (whose
        // helper might not speak this version's protocol).
        engine.exec_helper = Some(PathBuf::from("/proc/self/exe"));
        if let Some(n) = args
            .max_environments_per_function
            .or(file.max_environments_per_function)
        {
            if n == 0 {
                bail!("invalid configuration: max environments per function must be at least 1");
            }
            engine.max_environments_per_function = Some(n);
        }
        if let Some(mb) = args.memory_budget_mb.or(file.memory_budget_mb) {
            if mb < 128 {
                bail!(
                    "invalid configuration: memory budget must be at least 128 MB (one environment)"
                );
            }
            engine.memory_budget_mb = mb;
        }
        if let Some(n) = args.account_concurrency.or(file.account_concurrency) {
            if n == 0 {
                bail!("invalid configuration: account concurrency must be at least 1");
            }
            engine.account_concurrency = n;
        }
        if let Some(n) = args
            .min_unreserved_concurrency
            .or(file.min_unreserved_concurrency)
        {
            engine.min_unreserved_concurrency = n;
        }
        if engine.min_unreserved_concurrency > engine.account_concurrency {
            bail!(
                "invalid configuration: minimum unreserved concurrency ({}) exceeds the account concurrency ({})",
                engine.min_unreserved_concurrency,
                engine.account_concurrency
            );
        }
        if let Some(n) = args.scaling_rate.or(file.scaling_rate) {
            if n == 0 {
                bail!(
                    "invalid configuration: scaling rate must be at least 1 environment per 10 seconds"
                );
            }
            engine.scaling_rate = n;
        }
        if let Some(ms) = args.shutdown_grace_ms.or(file.shutdown_grace_ms) {
            engine.shutdown_grace = Duration::from_millis(ms);
        }
        if let Some(f) = args.async_retry_scale.or(file.async_retry_scale) {
            if !(f.is_finite() && f > 0.0) {
                bail!(
                    "invalid configuration: async retry scale must be a positive number (1 = AWS's delays, 0.01 = a minute becomes 0.6 s)"
                );
            }
            engine.async_config.retry_scale = f;
        }
        if let Some(n) = args.async_workers.or(file.async_workers) {
            if n == 0 {
                bail!("invalid configuration: async workers must be at least 1");
            }
            engine.async_config.workers = n;
        }
        let aws_endpoint_url = args.aws_endpoint_url.or(file.aws_endpoint_url);
        if let Some(url) = &aws_endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!(
                "invalid configuration: AWS endpoint URL {url:?} must start with http:// or https://"
            );
        }
        let timeout = args
            .shutdown_timeout
            .or(file.shutdown_timeout)
            .unwrap_or(30);
        let shutdown_timeout = Duration::from_secs(timeout);
        // Last: a refused configuration leaves nothing behind.
        std::fs::create_dir_all(&engine.data_dir).with_context(|| {
            format!(
                "invalid configuration: cannot create data directory {}",
                engine.data_dir.display()
            )
        })?;
        Ok(Config {
            listen,
            engine,
            aws_endpoint_url,
            shutdown_timeout,
            auth,
            verbosity: args.verbose,
        })
    }
}

/// The authentication mode and, for server mode, the keys of the credentials file.
fn load_auth(mode: Option<&str>, credentials: Option<&Path>) -> anyhow::Result<Auth> {
    match (mode.unwrap_or("local"), credentials) {
        ("local", None) => Ok(Auth::Local),
        ("local", Some(path)) => bail!(
            "invalid configuration: credentials file {} is only used with --auth sigv4; add --auth sigv4 or remove --credentials",
            path.display()
        ),
        ("sigv4", None) => bail!(
            "invalid configuration: --auth sigv4 needs --credentials FILE, the access keys it accepts \
             (see README: \"Server mode\")"
        ),
        ("sigv4", Some(path)) => {
            let keyring = read_credentials(path).map_err(|e| {
                anyhow::anyhow!(
                    "invalid configuration: credentials file {}: {e}",
                    path.display()
                )
            })?;
            Ok(Auth::Sigv4(std::sync::Arc::new(keyring)))
        }
        (other, _) => {
            bail!("invalid configuration: auth mode {other:?} must be \"local\" or \"sigv4\"")
        }
    }
}

fn read_credentials(path: &Path) -> Result<Keyring, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let file: CredentialsFile = toml::from_str(&text).map_err(|e| e.to_string())?;
    let specs = file
        .key
        .into_iter()
        .map(|k| KeySpec {
            access_key_id: k.access_key_id,
            secret_access_key: Secret::new(k.secret_access_key),
            account_id: k.account_id,
            principal: k.principal,
            org_id: k.org_id,
            policy: k.policy,
        })
        .collect();
    Keyring::new(specs)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "invalid configuration: cannot read config file {}",
            path.display()
        )
    })?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("invalid configuration in {}: {e}", path.display()))
}

/// `[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d`, as in Lambda ARNs.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let n = parts.len();
    n >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..n - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[n - 1].len() == 1
        && parts[n - 1].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("us-east-12"));
    }

    fn credentials(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const ALICE: &str = r#"
[[key]]
access_key_id = "AKIAALICE"
secret_access_key = "alice-secret"
account_id = "111111111111"
principal = "arn:aws:iam::111111111111:user/alice"
policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}'''
"#;

    #[test]
    fn local_mode_is_the_default() {
        assert!(matches!(load_auth(None, None).unwrap(), Auth::Local));
    }

    #[test]
    fn sigv4_mode_reads_the_credentials_file() {
        let (_dir, path) = credentials(ALICE);
        assert!(matches!(
            load_auth(Some("sigv4"), Some(&path)).unwrap(),
            Auth::Sigv4(_)
        ));
    }

    #[test]
    fn auth_settings_that_do_not_fit_together_are_refused() {
        let (_dir, path) = credentials(ALICE);
        let e = load_auth(Some("sigv4"), None).unwrap_err().to_string();
        assert!(e.contains("needs --credentials"), "{e}");
        let e = load_auth(None, Some(&path)).unwrap_err().to_string();
        assert!(e.contains("only used with --auth sigv4"), "{e}");
        let e = load_auth(Some("iam"), None).unwrap_err().to_string();
        assert!(e.contains("\"local\" or \"sigv4\""), "{e}");
    }

    #[test]
    fn credentials_files_say_what_to_fix_and_never_echo_secrets() {
        let (_dir, path) =
            credentials(&ALICE.replace("111111111111\"\nprincipal", "1111\"\nprincipal"));
        let e = load_auth(Some("sigv4"), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(e.contains("AKIAALICE") && e.contains("12 digits"), "{e}");
        assert!(!e.contains("alice-secret"), "{e}");
        let (_dir, path) = credentials(&ALICE.replace("policy =", "colour = \"blue\"\npolicy ="));
        let e = load_auth(Some("sigv4"), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let (_dir, path) =
            credentials(&ALICE.replace("lambda:*\"", "lambda:*\", \"NotResource\": \"x\""));
        let e = load_auth(Some("sigv4"), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(e.contains("NotResource"), "{e}");
    }
}
