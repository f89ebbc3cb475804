//! `bench --soak 10m`: steady load for a long time, to show that nothing
//! fails and nothing grows. The gateway serves reads and durable saves at
//! concurrency 16 in alternating 10-second rounds; after every round its
//! resident memory is read from `/proc`. The run fails on any error, or if
//! memory after the last round exceeds memory after the first (warm) round
//! by more than [`GROWTH_ALLOWED`].

use std::{path::Path, time::Duration};

use serde::Serialize;

use crate::{
    database::Database,
    gateway::{Binary, Gateway},
    issuer::LocalIssuer,
    load::Window,
    scenarios::{self, Scenario, Server, Tool},
};

/// Rounds alternate between these, so the store and the catalog both run.
const ROUNDS: [Tool; 2] = [Tool::DomainGetItem, Tool::UserSaveState];
const CONCURRENCY: usize = 16;
const ROUND: Duration = Duration::from_secs(10);
/// Growth of resident memory tolerated between the first and the last round:
/// allocator noise, not a leak (a leak grows with every round).
const GROWTH_ALLOWED: f64 = 0.10;
const GROWTH_FLOOR_KIB: u64 = 2 * 1024;

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub duration_s: u64,
    pub rounds: usize,
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Resident memory after start-up and sign-in, in KiB.
    pub start_rss_kib: u64,
    /// After the first round (warm caches, pools filled).
    pub warm_rss_kib: u64,
    pub end_rss_kib: u64,
    pub peak_rss_kib: u64,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        let allowed = ((self.warm_rss_kib as f64 * GROWTH_ALLOWED) as u64).max(GROWTH_FLOOR_KIB);
        self.errors == 0 && self.end_rss_kib <= self.warm_rss_kib + allowed
    }

    pub fn markdown(&self) -> String {
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        format!(
            "## Soak\n\n{} s at concurrency {CONCURRENCY} in {} rounds (`domain_get_item` and \
             `user_save_state` alternating), SQLite.\n\n\
             | requests | errors | RSS at start | after round 1 | at end | peak | result |\n\
             |---:|---:|---:|---:|---:|---:|---|\n\
             | {} | {} | {} | {} | {} | {} | {} |\n",
            self.duration_s,
            self.rounds,
            self.requests,
            self.errors,
            mib(self.start_rss_kib),
            mib(self.warm_rss_kib),
            mib(self.end_rss_kib),
            mib(self.peak_rss_kib),
            if self.passed() {
                "passed"
            } else {
                "**failed**"
            },
        )
    }
}

pub async fn soak(
    binary: &Binary,
    issuer: &LocalIssuer,
    app_dir: &Path,
    duration: Duration,
) -> anyhow::Result<SoakReport> {
    let database = Database::sqlite()?;
    let mut gateway = Gateway::spawn(binary, &database, issuer.url(), app_dir, None)?;
    let signed_in = scenarios::sign_in(&mut gateway, issuer, CONCURRENCY).await?;
    let start = gateway.child.memory()?;
    let rounds = (duration.as_secs() / ROUND.as_secs()).max(2) as usize;
    let window = Window {
        warmup: Duration::ZERO,
        measure: ROUND,
    };
    let (mut requests, mut errors, mut first_error) = (0, 0, None);
    let mut warm = start;
    for round in 0..rounds {
        gateway.child.ensure_running()?;
        let scenario = Scenario {
            tool: ROUNDS[round % ROUNDS.len()],
            concurrency: CONCURRENCY,
        };
        let (measured, _) = scenarios::measure(
            &gateway.child,
            gateway.addr,
            Server::Gateway,
            Some(database.engine()),
            scenario,
            &signed_in.users,
            window,
        )
        .await?;
        requests += measured.requests;
        errors += measured.errors + measured.warmup_errors;
        first_error = first_error
            .or(measured.first_error)
            .or(measured.sample_problem);
        let memory = gateway.child.memory()?;
        eprintln!(
            "bench: soak round {}/{rounds}: {:.0} req/s, {} errors, RSS {} KiB",
            round + 1,
            measured.requests_per_second,
            measured.errors,
            memory.rss_kib
        );
        if round == 0 {
            warm = memory;
        }
    }
    let end = gateway.child.memory()?;
    gateway.child.stop().await;
    Ok(SoakReport {
        duration_s: (ROUND * rounds as u32).as_secs(),
        rounds,
        requests,
        errors,
        first_error,
        start_rss_kib: start.rss_kib,
        warm_rss_kib: warm.rss_kib,
        end_rss_kib: end.rss_kib,
        peak_rss_kib: end.peak_kib,
    })
}
