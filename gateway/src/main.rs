//! `cargo run -p gateway`: the gateway alone, configured from flags, the
//! environment and (in development) `.env`.

use clap::Parser;
use gateway::{Application, Config, telemetry::LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "The Connector Devkit gateway: one MCP endpoint, tools only."
)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

// Not `#[tokio::main]`: the trace exporter's blocking client must be made
// and dropped outside the runtime.
fn main() -> std::process::ExitCode {
    // A missing .env is normal; an unreadable one is worth saying.
    let dotenv = dotenvy::dotenv();
    let format = match std::env::var("LOG_FORMAT")
        .unwrap_or_default()
        .parse::<LogFormat>()
    {
        Ok(format) => format,
        Err(problem) => {
            eprintln!("gateway: {problem}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Held until `main` returns: dropping it flushes the queued spans.
    let _traces = match gateway::telemetry::init(format, "info,rmcp=warn", std::io::stdout) {
        Ok(traces) => traces,
        Err(problem) => {
            eprintln!("gateway: {problem}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = &dotenv
        && !e.not_found()
    {
        tracing::error!("cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli.config)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config, gateway::App::data_pack()).await?;
    let gateway = app.gateway();
    tracing::info!(
        app = %gateway.pack_name,
        connector_url = %gateway.settings.resource_url,
        database = %gateway.settings.database_url,
        listening = %app.local_addr(),
        "gateway ready"
    );
    app.run_until_stopped(async {
        gateway::startup::stop_signal().await;
        tracing::info!("shutting down");
    })
    .await?;
    Ok(())
}
