//! The `invokd` binary: `serve` runs the service; `invoke` and `logs` are friendly clients.
//!
//! Configuration is read from flags, `INVOKD_*` environment variables and an optional TOML file
//! (in that order of precedence), validated into one [`config::Config`] before anything binds a
//! port or opens a database, and handed to the engine and the server.

mod client;
mod config;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// A self-hosted, AWS-Lambda-compatible function service.
#[derive(Debug, Parser)]
#[command(name = "invokd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Lambda API (default: http://127.0.0.1:9001, state in ./.invokd).
    // Boxed: the server's settings dwarf the clients' arguments.
    Serve(Box<config::ServeArgs>),
    /// Invoke a function and print its response.
    Invoke(client::InvokeArgs),
    /// Print a function's logs.
    Logs(client::LogsArgs),
    /// Show queued, in-flight and failed asynchronous events; redrive failed deliveries.
    Events(client::EventsArgs),
}

fn main() -> ExitCode {
    // A spare process waiting to become a function's runtime: nothing else of invokd runs in it.
    if std::env::args_os().nth(1).as_deref() == Some(invokd_engine::EXEC_HELPER_ARG.as_ref()) {
        invokd_engine::exec_helper_main();
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("invokd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let config = config::Config::load(*args)?;
            init_logging(config.verbosity);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Invoke(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(client::invoke(args))
        }
        Command::Events(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(client::events(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(client::logs(args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(config: config::Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let mut engine_config = config.engine.clone();
    engine_config.self_endpoint = Some(format!("http://{local}"));
    let outbound: std::sync::Arc<dyn invokd_engine::Outbound> = match &config.aws_endpoint_url {
        Some(url) => std::sync::Arc::new(invokd_outbound::AwsOutbound::new(
            &invokd_outbound::AwsTarget {
                endpoint_url: url.clone(),
                region: config.engine.scope.region.clone(),
                access_key_id: std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into()),
                secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY")
                    .unwrap_or_else(|_| "test".into()),
            },
        )),
        None => std::sync::Arc::new(invokd_engine::NoOutbound),
    };
    let runtime_api = std::sync::Arc::new(invokd_server::RuntimeApiHttp);
    let engine = invokd_engine::Engine::start(engine_config, runtime_api, outbound)
        .await
        .context("starting the engine")?;
    let mode = match &config.auth {
        invokd_server::auth::Auth::Local => "local mode: any credentials",
        invokd_server::auth::Auth::Sigv4(_) => "server mode: SigV4 and IAM policies",
    };
    eprintln!(
        "invokd: serving the Lambda API on http://{local} (data in {}; {mode})",
        config.engine.data_dir.display()
    );
    // On SIGINT/SIGTERM: stop accepting, give requests in flight the shutdown timeout to finish,
    // then stop every environment (whatever still runs ends with an error).
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    let serving = invokd_server::run_with(
        engine.clone(),
        listener,
        stop.clone().cancelled_owned(),
        config.auth.clone(),
    );
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    tokio::select! {
        served = serving => served.context("serving")?,
        () = deadline => tracing::warn!(
            timeout_s = config.shutdown_timeout.as_secs(),
            "requests still in flight at the shutdown timeout; stopping anyway"
        ),
    }
    tracing::info!("stopping execution environments");
    engine.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
