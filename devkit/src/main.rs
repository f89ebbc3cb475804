//! `devkit`: the Connector Devkit command line.

use clap::{Parser, Subcommand};
use devkit::{doctor, up};
use gateway::telemetry::LogFormat;

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
    /// Start the app with sign-in on, behind a public tunnel, and print its connector URL.
    Up(up::UpArgs),
    /// Check .env, the secret, the database, the pack, cloudflared, the port, the keys, and what hosts need.
    Doctor(doctor::DoctorArgs),
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
        Command::Up(args) => runtime().and_then(|rt| {
            // stdout carries the banner alone; logs go to stderr.
            let format = std::env::var("LOG_FORMAT")
                .unwrap_or_default()
                .parse::<LogFormat>()
                .map_err(anyhow::Error::msg)?;
            let _traces =
                gateway::telemetry::init(format, "info,rmcp=warn,sqlx=warn", std::io::stderr)
                    .map_err(anyhow::Error::msg)?;
            rt.block_on(up::run(args))
        }),
        Command::Doctor(args) => runtime().and_then(|rt| {
            let checks = rt.block_on(doctor::run(&args));
            for check in &checks {
                println!("{check}");
            }
            match checks
                .iter()
                .filter(|c| c.verdict == doctor::Verdict::Fail)
                .count()
            {
                0 => Ok(()),
                n => Err(anyhow::anyhow!(
                    "{n} check(s) failed; fix them before `devkit up`"
                )),
            }
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devkit: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
