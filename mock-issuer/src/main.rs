//! `cargo run -p mock-issuer`: the local OAuth 2.1 / OIDC issuer alone.

use clap::Parser;
use kit_serve::telemetry::LogFormat;
use mock_issuer::{config::IssuerConfig, startup::Application};

#[derive(Debug, Parser)]
#[command(
    name = "mock-issuer",
    version,
    about = "A local OAuth 2.1 / OIDC issuer for building and testing MCP connectors."
)]
struct Cli {
    #[command(flatten)]
    config: IssuerConfig,
}

fn main() -> std::process::ExitCode {
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("mock-issuer: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match run(cli.config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-issuer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(config: IssuerConfig) -> anyhow::Result<()> {
    let format = LogFormat::from_env().map_err(anyhow::Error::msg)?;
    // Made and dropped outside the runtime: the exporter's client blocks.
    let _traces =
        kit_serve::telemetry::init("connector-devkit-issuer", format, "info", std::io::stdout)
            .map_err(anyhow::Error::msg)?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let app = Application::build(config).await?;
        tracing::info!(issuer = %app.issuer().issuer(), listening = %app.local_addr(), "issuer ready");
        app.run_until_stopped(async {
            kit_serve::stop_signal().await;
            tracing::info!("shutting down");
        })
        .await?;
        Ok(())
    })
}
