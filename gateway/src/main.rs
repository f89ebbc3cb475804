//! `cargo run -p gateway`: the data-pack app alone, configured from flags,
//! the environment and (in development) `.env`. `devkit serve` is the same
//! for any app on the kit.

use clap::Parser;
use gateway::{App, Config};

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

fn main() -> std::process::ExitCode {
    // A missing .env is normal; an unreadable one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("gateway: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match gateway::run_alone(cli.config, App::data_pack()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
