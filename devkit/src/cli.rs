//! The command line every app gets: `up`, `doctor`, `mint-token`. An app's
//! `main` is `devkit::run(app)`; the `devkit` binary is the data-pack app's.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use gateway::App;
use kit_serve::telemetry::LogFormat;

use crate::{call, doctor, mint, new, up};

/// The name traces carry: one process serving the gateway and its issuer.
const SERVICE: &str = "connector-devkit";

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
    /// Serve the app alone, for production: a hosted issuer, your own TLS in front (docs/deploy.md).
    Serve(Box<ServeArgs>),
    /// Check .env, the secret, the database, the pack, cloudflared, the port, the keys, and what hosts need.
    Doctor(doctor::DoctorArgs),
    /// Print an access token signed with the local issuer's key (stdout: the token only).
    MintToken(mint::MintArgs),
    /// Call one tool as a signed-in user and print its result: `devkit call domain_search '{"query": "maps"}'`.
    Call(call::CallArgs),
    /// Make a new app from a template: a domain pack, or a crate on the kit with its own tests.
    New(new::NewArgs),
}

/// Runs the command line for `app` and returns the process's exit code.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     devkit::run(gateway::App::data_pack())
/// }
/// ```
pub fn run(app: App) -> std::process::ExitCode {
    // Flags win over .env, which only fills in what the environment lacks.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("devkit: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    // Usage lines name the program as it was run (`devkit`, `booking`, …).
    let name = std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "devkit".into());
    let cli = match Cli::from_arg_matches(&Cli::command().bin_name(name).get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::New(args) => new::new(&args).map(|made| println!("{}", made.next_steps())),
        Command::MintToken(args) => {
            mint::mint_token(&args, chrono::Utc::now().timestamp()).map(|t| println!("{t}"))
        }
        Command::Serve(args) => gateway::run_alone(args.config, app),
        Command::Call(args) => runtime()
            .and_then(|rt| rt.block_on(call::call(&args)))
            .map(|out| println!("{out}")),
        Command::Up(args) => runtime().and_then(|rt| {
            // stdout carries the banner alone; logs go to stderr.
            let format = LogFormat::from_env().map_err(anyhow::Error::msg)?;
            let _traces = kit_serve::telemetry::init(
                SERVICE,
                format,
                "info,rmcp=warn,sqlx=warn",
                std::io::stderr,
            )
            .map_err(anyhow::Error::msg)?;
            rt.block_on(up::run(args, app))
        }),
        Command::Doctor(args) => runtime().and_then(|rt| {
            let checks = rt.block_on(doctor::run(&args, &app.default_pack_dir()));
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

/// `serve`'s settings: the gateway's, from flags and the environment.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: gateway::Config,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
