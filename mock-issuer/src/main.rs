//! `cargo run -p mock-issuer`: the local OAuth 2.1 / OIDC issuer alone.

use clap::Parser;
use mock_issuer::{config::IssuerConfig, startup::Application};
use tracing_subscriber::EnvFilter;

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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let dotenv = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if let Err(e) = &dotenv
        && !e.not_found()
    {
        eprintln!("mock-issuer: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = async {
        let app = Application::build(cli.config).await?;
        tracing::info!(issuer = %app.issuer().issuer(), listening = %app.local_addr(), "issuer ready");
        app.run_until_stopped(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-issuer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
