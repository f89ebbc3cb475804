//! `cargo run --release -p bench`: the gateway under load, next to what the
//! same machine can do at best (the HTTP ceiling) and what bare rmcp does
//! (the framework floor).
//!
//! # Layout
//!
//! - `gateway`: builds and starts the real gateway binary.
//! - `issuer`: the mock issuer in process; real RS256 tokens per user.
//! - `database`: a fresh SQLite file or Postgres database per gateway.
//! - `child`: child processes that are always killed, and their `/proc` figures.
//! - `load`: the load generator (keep-alive connections, HDR histogram).
//! - `mcp`: the JSON-RPC bodies and the checks of an answer.
//! - `scenarios`: the tools, the users, the sample checks, the save count.
//! - `references`: the HTTP ceiling and the framework floor (`bench serve …`).
//! - `targets`: the targets and FastMCP figures, met or not.
//! - `pack_gen`, `search_scale`: `--big-pack N`, search over N generated articles.
//! - `soak`: `--soak`, steady load for a long time, errors and memory watched.
//! - `report`: the markdown and JSON results.

mod child;
mod database;
mod gateway;
mod issuer;
mod load;
mod mcp;
mod pack_gen;
mod references;
mod report;
mod rounds;
mod scenarios;
mod search_scale;
mod soak;
mod targets;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{
    database::Database,
    gateway::{Binary, Gateway},
    issuer::LocalIssuer,
    load::Window,
    references::Reference,
    report::{GatewayFacts, Machine, Report, Results, RunSettings},
    scenarios::{Scenario, Server, User},
};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Measures the gateway under load against an HTTP ceiling and a bare rmcp floor.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one reference server (the bench starts these itself).
    #[command(hide = true)]
    Serve {
        reference: Reference,
        #[arg(long)]
        port: u16,
        /// A `domain_get_item` answer of the gateway's (a JSON-RPC body) to answer with.
        #[arg(long)]
        answer: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Measuring window per scenario: 10s, 30s, 1m.
    #[arg(long, default_value = "10s", value_parser = kit_serve::parse_duration)]
    duration: Duration,

    /// Warm-up before each measuring window (not counted).
    #[arg(long, default_value = "2s", value_parser = kit_serve::parse_duration)]
    warmup: Duration,

    /// A quick run for CI: 0.3 s warm-up and 1 s measured per scenario.
    #[arg(long)]
    smoke: bool,

    /// Run this gateway executable instead of building one.
    #[arg(long, value_name = "PATH")]
    gateway_bin: Option<PathBuf>,

    /// Also measure saves on Postgres, through this admin URL (a role that may
    /// CREATE DATABASE). `DATABASE_URL=postgres://…` does the same.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,

    /// Where to write results.md and results.json. Default: target/bench.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Only what the comparison with the references needs: `domain_get_item`
    /// at 16 and 64 clients on the gateway (SQLite) and on both references.
    /// A quicker before/after run of the per-request cost.
    #[arg(long, conflicts_with_all = ["postgres", "soak", "big_pack"])]
    get_item_only: bool,

    /// With --get-item-only: run the gateway and both references at once
    /// and measure them in this many interleaved rounds (one window of
    /// --duration each), reporting the median of the rounds' shares. Steadier
    /// on a shared machine than one window each, minutes apart.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "get_item_only",
          value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: u16,

    /// Instead of the benchmark: steady load for this long (2m, 1h), failing
    /// on any error or on memory that keeps growing. Writes soak.md and soak.json.
    #[arg(long, value_name = "DURATION", value_parser = kit_serve::parse_duration)]
    soak: Option<Duration>,

    /// Instead of the benchmark: search over this many generated articles
    /// (100000 for the targets), the index built then cached.
    /// Writes search-scale.md and search-scale.json.
    #[arg(long, value_name = "ITEMS", value_parser = clap::value_parser!(u32).range(100..=2_000_000))]
    big_pack: Option<u32>,

    /// With --big-pack: write the generated pack here and keep it (for
    /// `cargo run --release -p gateway --example search_cost -- DIR`).
    #[arg(long, value_name = "DIR", requires = "big_pack")]
    keep_pack: Option<PathBuf>,

    /// With --big-pack: how the generated words are spread over the
    /// articles: evenly (every seed word in many articles: the harsher case
    /// for an index, and the pack of the first recorded runs) or by topic,
    /// as in a real catalog.
    #[arg(long, value_enum, default_value = "even", requires = "big_pack")]
    words: pack_gen::Spread,
}

impl RunArgs {
    fn window(&self) -> Window {
        if self.smoke {
            Window {
                warmup: Duration::from_millis(300),
                measure: Duration::from_secs(1),
            }
        } else {
            Window {
                warmup: self.warmup,
                measure: self.duration,
            }
        }
    }

    fn postgres_url(&self) -> anyhow::Result<Option<String>> {
        if let Some(url) = &self.postgres {
            anyhow::ensure!(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "--postgres takes a postgres:// URL"
            );
            return Ok(Some(url.clone()));
        }
        // An SQLite DATABASE_URL is the default anyway; only Postgres adds a run.
        Ok(std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://")))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve {
            reference,
            port,
            answer,
        }) => references::serve(reference, port, &answer)
            .await
            .map(|()| true),
        // On Ctrl-C or SIGTERM the run is dropped, and with it every child process.
        None => tokio::select! {
            passed = run(cli.run) => passed,
            () = interrupted() => Err(anyhow::anyhow!("interrupted")),
        },
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The workspace this bench was built from: the gateway's sources and the seed pack.
fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `target/bench`, beside the profile folder this executable lives in.
fn default_out_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("bench")))
        .unwrap_or_else(|| workspace_dir().join("target").join("bench"))
}

/// The whole run; `Ok(false)` when a scenario had errors or a check failed.
async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let window = args.window();
    let postgres = if args.get_item_only {
        None
    } else {
        args.postgres_url()?
    };
    let workspace = workspace_dir();
    let binary = match &args.gateway_bin {
        Some(path) => Binary::given(path)?,
        None => Binary::build(&workspace).await?,
    };
    // Described before the load: the date and load average are the run's start.
    let machine = Machine::describe(&workspace, &binary.profile);
    let issuer = LocalIssuer::start().await?;
    let app_dir = workspace.join("seed");
    let out = args.out.clone().unwrap_or_else(default_out_dir);

    if let Some(duration) = args.soak {
        let report = soak::soak(&binary, &issuer, &app_dir, duration).await?;
        let markdown = report.markdown();
        println!("{markdown}");
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("soak.md"), &markdown)?;
        std::fs::write(out.join("soak.json"), serde_json::to_vec_pretty(&report)?)?;
        if let Some(error) = &report.first_error {
            eprintln!("bench: first error: {error}");
        }
        return Ok(report.passed());
    }
    if let Some(items) = args.big_pack {
        let report = search_scale::run(
            &binary,
            &issuer,
            &workspace,
            items as usize,
            args.words,
            args.keep_pack.as_deref(),
            window,
        )
        .await?;
        let markdown = report.markdown();
        println!("{markdown}");
        std::fs::create_dir_all(&out)?;
        std::fs::write(out.join("search-scale.md"), &markdown)?;
        std::fs::write(
            out.join("search-scale.json"),
            serde_json::to_vec_pretty(&report)?,
        )?;
        return Ok(report.passed());
    }
    let mut results = Results::default();
    if args.rounds > 1 {
        rounds::interleaved(
            &binary,
            &issuer,
            &app_dir,
            args.rounds.into(),
            window,
            &mut results,
        )
        .await?;
        return finish(machine, window, &args, results, &out);
    }

    let sqlite = Database::sqlite()?;
    let plan: &[Scenario] = if args.get_item_only {
        &scenarios::REFERENCES
    } else {
        &scenarios::GATEWAY
    };
    let (users, answer) = bench_gateway(
        &binary,
        &issuer,
        &sqlite,
        &app_dir,
        plan,
        window,
        &mut results,
    )
    .await?;

    if let Some(admin_url) = postgres {
        let database = Database::postgres(&admin_url).await?;
        let run = bench_gateway(
            &binary,
            &issuer,
            &database,
            &app_dir,
            &scenarios::SECOND_STORE,
            window,
            &mut results,
        )
        .await;
        // Dropped whether or not the run worked; the gateway has stopped by now.
        // Its answers are the SQLite gateway's too, so that one is kept.
        let removed = database.remove().await;
        run?;
        removed?;
    }

    // The references answer with the gateway's own bytes, so the comparison
    // is of the work done, not of the size of an article.
    let answer_file = tempfile::NamedTempFile::new()?;
    std::fs::write(answer_file.path(), &answer)?;
    for reference in [Reference::Ceiling, Reference::Floor] {
        bench_reference(reference, &users, answer_file.path(), window, &mut results).await?;
    }

    finish(machine, window, &args, results, &out)
}

/// Judges `results`, prints the report and writes it to `out`.
fn finish(
    machine: Machine,
    window: Window,
    args: &RunArgs,
    results: Results,
    out: &Path,
) -> anyhow::Result<bool> {
    let report = Report::new(machine, RunSettings::new(window, args.smoke), results);
    let markdown = report.markdown();
    println!("{markdown}");
    report.write(out, &markdown)?;
    eprintln!("bench: wrote {}", out.display());
    Ok(report.passed)
}

/// Starts a gateway on `database`, signs the users in, runs `plan`, counts
/// the saves, and stops it. Returns the signed-in users (for the references,
/// so they get the same requests) and a sampled `domain_get_item` answer
/// (for the references to give).
async fn bench_gateway(
    binary: &Binary,
    issuer: &LocalIssuer,
    database: &Database,
    app_dir: &Path,
    plan: &[Scenario],
    window: Window,
    results: &mut Results,
) -> anyhow::Result<(Vec<User>, bytes::Bytes)> {
    let engine = database.engine();
    let mut answer = bytes::Bytes::new();
    eprintln!("bench: starting the gateway on {}", engine.label());
    let mut gateway = Gateway::spawn(binary, database, issuer.url(), app_dir, None)?;
    let most = plan.iter().map(|s| s.concurrency).max().unwrap_or(1);
    let signed_in = scenarios::sign_in(&mut gateway, issuer, most).await?;
    let idle = gateway.child.memory()?;
    for &scenario in plan {
        gateway.child.ensure_running()?;
        let (measured, outcome) = scenarios::measure(
            &gateway.child,
            gateway.addr,
            Server::Gateway,
            Some(engine),
            scenario,
            &signed_in.users,
            window,
        )
        .await?;
        results.scenarios.push(measured);
        if scenario.tool == scenarios::Tool::DomainGetItem
            && let Some(reply) = &outcome.last_reply
        {
            answer = reply.body.clone();
        }
        if scenario.tool == scenarios::Tool::UserSaveState {
            let count = scenarios::count_saves(
                gateway.addr,
                engine,
                &signed_in.users,
                &outcome.acknowledged,
            )
            .await?;
            results.saves.push(count);
        }
    }
    let end = gateway.child.memory()?;
    gateway.child.stop().await;
    results.gateways.push(GatewayFacts::new(
        engine,
        signed_in.start_to_first_call,
        idle,
        end,
    ));
    Ok((signed_in.users, answer))
}

/// Starts one reference server and loads it exactly as the gateway was loaded.
async fn bench_reference(
    reference: Reference,
    users: &[User],
    answer: &Path,
    window: Window,
    results: &mut Results,
) -> anyhow::Result<()> {
    let user = users.first().context("no signed-in users")?;
    let (mut child, addr) = reference.start(answer, user).await?;
    for &scenario in &scenarios::REFERENCES {
        child.ensure_running()?;
        let (measured, _) = scenarios::measure(
            &child,
            addr,
            reference.into(),
            None,
            scenario,
            users,
            window,
        )
        .await?;
        results.scenarios.push(measured);
    }
    child.stop().await;
    Ok(())
}
