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

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
    gateway::telemetry::init(format, "info,rmcp=warn", std::io::stdout);
    if let Err(e) = &dotenv
        && !e.not_found()
    {
        tracing::error!("cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match run(cli.config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let gateway = app.gateway();
    tracing::info!(
        app = %gateway.pack_name,
        connector_url = %gateway.settings.resource_url,
        database = %gateway.settings.database_url,
        listening = %app.local_addr(),
        "gateway ready"
    );
    app.run_until_stopped(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    Ok(())
}
