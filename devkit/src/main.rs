//! `devkit`: the Connector Devkit command line.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "devkit",
    version,
    about = "Build, run and test connector-native apps."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an access token signed with the local issuer's key (stdout: the token only).
    MintToken(devkit::mint::MintArgs),
}

fn main() -> std::process::ExitCode {
    // Flags win over .env, which only fills in what the environment lacks.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("devkit: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::MintToken(args) => {
            devkit::mint::mint_token(&args, chrono::Utc::now().timestamp()).map(|t| println!("{t}"))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devkit: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
