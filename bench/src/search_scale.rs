//! `--big-pack N`: search at scale. A generated pack of N articles
//! ([`crate::pack_gen`]) served by the real gateway: the start with no index
//! (built and cached) and with the cached one, `domain_search` at 1 and 16
//! clients with the judged queries a model asks, and `domain_get_item` alone
//! and while 4 clients search, with the memory the process holds.

use std::{fmt::Write as _, path::Path, time::Duration};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    child::Memory,
    database::Database,
    gateway::{Binary, Gateway},
    issuer::LocalIssuer,
    load::{self, Call, Outcome, Window},
    mcp,
    pack_gen::Spread,
    scenarios::{self, User},
};

/// The targets at 100k items.
const SEARCH_P99_TARGET_MS: f64 = 10.0;
const CACHED_START_TARGET: Duration = Duration::from_secs(1);
const SEARCHERS_BESIDE: usize = 4;
const CLIENTS: usize = 16;
/// The generated pack is the same every run.
const SEED: u64 = 2026;

#[derive(Debug, Serialize)]
pub struct ScaleReport {
    pub items: usize,
    pub spread: Spread,
    pub pack_mib: f64,
    pub generated_in: Duration,
    pub cold_start: Duration,
    pub cold_rss: Memory,
    pub cached_start: Duration,
    pub cached_idle_rss: Memory,
    pub end_rss: Memory,
    pub rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub what: String,
    pub clients: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Row {
    fn new(what: &str, clients: usize, outcome: &Outcome) -> Self {
        let millis = |q: f64| outcome.histogram.value_at_quantile(q) as f64 / 1000.0;
        Self {
            what: what.to_owned(),
            clients,
            requests_per_second: outcome.requests_per_second(),
            p50_ms: millis(0.5),
            p99_ms: millis(0.99),
            errors: outcome.errors + outcome.warmup_errors,
            first_error: outcome.first_error.clone(),
        }
    }
}

impl ScaleReport {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|row| row.errors == 0)
    }

    fn search_p99_at_16(&self) -> Option<f64> {
        self.rows
            .iter()
            .find(|row| row.what == "domain_search" && row.clients == CLIENTS)
            .map(|row| row.p99_ms)
    }

    pub fn markdown(&self) -> String {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let met = |ok: bool| if ok { "met" } else { "**missed**" };
        let mut out = format!(
            "## Search at scale: {} articles, words spread {}, {:.0} MB of JSON (generated in {:.1} s)\n\n",
            self.items,
            match self.spread {
                Spread::Topics => "by topic",
                Spread::Even => "evenly",
            },
            self.pack_mib,
            self.generated_in.as_secs_f64()
        );
        let _ = writeln!(out, "| start | spawn → first call | RSS after start |");
        let _ = writeln!(out, "|---|---:|---:|");
        let _ = writeln!(
            out,
            "| no index yet (built and cached) | {:.2} s | {:.1} MiB (peak {:.1}) |",
            self.cold_start.as_secs_f64(),
            mib(self.cold_rss.rss_kib),
            mib(self.cold_rss.peak_kib)
        );
        let _ = writeln!(
            out,
            "| cached index | {:.2} s ({} ≤ {:.0} s) | {:.1} MiB (peak {:.1}) |\n",
            self.cached_start.as_secs_f64(),
            met(self.cached_start <= CACHED_START_TARGET),
            CACHED_START_TARGET.as_secs_f64(),
            mib(self.cached_idle_rss.rss_kib),
            mib(self.cached_idle_rss.peak_kib)
        );
        let _ = writeln!(out, "| load | clients | req/s | p50 ms | p99 ms | errors |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
                row.what, row.clients, row.requests_per_second, row.p50_ms, row.p99_ms, row.errors
            );
        }
        if let Some(p99) = self.search_p99_at_16() {
            let _ = writeln!(
                out,
                "\n`domain_search` p99 at {CLIENTS} clients: {p99:.2} ms ({} ≤ {SEARCH_P99_TARGET_MS} ms).",
                met(p99 <= SEARCH_P99_TARGET_MS)
            );
        }
        let _ = writeln!(
            out,
            "RSS at the end: {:.1} MiB (peak {:.1}).",
            mib(self.end_rss.rss_kib),
            mib(self.end_rss.peak_kib)
        );
        for row in self.rows.iter().filter(|row| row.errors > 0) {
            let _ = writeln!(
                out,
                "\n{} at {}: first error: {}",
                row.what,
                row.clients,
                row.first_error.as_deref().unwrap_or("?")
            );
        }
        out
    }
}

pub async fn run(
    binary: &Binary,
    issuer: &LocalIssuer,
    workspace: &Path,
    items: usize,
    spread: Spread,
    keep_pack: Option<&Path>,
    window: Window,
) -> anyhow::Result<ScaleReport> {
    let work = tempfile::tempdir().context("cannot make a folder for the generated pack")?;
    let pack = match keep_pack {
        // The gateway runs in a folder of its own.
        Some(dir) => {
            crate::pack_gen::check_writable(dir)?;
            std::path::absolute(dir)?
        }
        None => work.path().join("pack"),
    };
    let cache = work.path().join("search-cache");
    eprintln!("bench: generating a pack of {items} articles");
    let started = std::time::Instant::now();
    crate::pack_gen::generate(&workspace.join("seed"), &pack, items, spread, SEED)?;
    let generated_in = started.elapsed();
    let pack_mib = std::fs::metadata(pack.join("articles.json"))?.len() as f64 / 1e6;
    let queries = judged_queries(workspace)?;

    let database = Database::sqlite()?;
    let users = CLIENTS + SEARCHERS_BESIDE;
    eprintln!("bench: starting the gateway with no index");
    let mut cold = Gateway::spawn(binary, &database, issuer.url(), &pack, Some(&cache))?;
    let cold_start = scenarios::sign_in(&mut cold, issuer, 1)
        .await?
        .start_to_first_call;
    let cold_rss = cold.child.memory()?;
    cold.child.stop().await;

    eprintln!("bench: starting the gateway with the cached index");
    let mut gateway = Gateway::spawn(binary, &database, issuer.url(), &pack, Some(&cache))?;
    // One user first, so the start is not also the minting of every token.
    let cached_start = scenarios::sign_in(&mut gateway, issuer, 1)
        .await?
        .start_to_first_call;
    let signed_in = scenarios::sign_in(&mut gateway, issuer, users).await?;
    let cached_idle_rss = gateway.child.memory()?;
    let addr = gateway.addr;
    let search = |user: &User, n: usize| {
        Call::new(
            addr,
            user.bearer.clone(),
            mcp::tools_call(
                "domain_search",
                json!({"session": user.session, "query": queries[n % queries.len()]}),
            ),
        )
    };
    let get_item = |user: &User, n: usize| {
        Call::new(
            addr,
            user.bearer.clone(),
            mcp::tools_call(
                "domain_get_item",
                json!({"session": user.session, "id": format!("g{}", items / 2 + n)}),
            ),
        )
    };
    let calls = |make: &dyn Fn(&User, usize) -> anyhow::Result<Call>, users: &[User]| {
        users
            .iter()
            .enumerate()
            .map(|(n, user)| make(user, n))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let (clients, beside) = signed_in.users.split_at(CLIENTS);
    let mut rows = Vec::new();
    for concurrency in [1, CLIENTS] {
        eprintln!("bench: domain_search at {concurrency} over {items} articles");
        let outcome = load::run(addr, calls(&search, &clients[..concurrency])?, window).await?;
        rows.push(Row::new("domain_search", concurrency, &outcome));
    }
    eprintln!("bench: domain_get_item at {CLIENTS}");
    let outcome = load::run(addr, calls(&get_item, clients)?, window).await?;
    rows.push(Row::new("domain_get_item", CLIENTS, &outcome));
    eprintln!("bench: domain_get_item at {CLIENTS} while {SEARCHERS_BESIDE} clients search");
    let (reads, searches) = tokio::join!(
        load::run(addr, calls(&get_item, clients)?, window),
        load::run(addr, calls(&search, beside)?, window),
    );
    rows.push(Row::new(
        &format!("domain_get_item, {SEARCHERS_BESIDE} clients searching"),
        CLIENTS,
        &reads?,
    ));
    rows.push(Row::new(
        "domain_search beside those reads",
        SEARCHERS_BESIDE,
        &searches?,
    ));
    let end_rss = gateway.child.memory()?;
    gateway.child.stop().await;
    Ok(ScaleReport {
        items,
        spread,
        pack_mib,
        generated_in,
        cold_start,
        cold_rss,
        cached_start,
        cached_idle_rss,
        end_rss,
        rows,
    })
}

/// The queries of `seed/judged-queries.json`: phrased as a model asks.
fn judged_queries(workspace: &Path) -> anyhow::Result<Vec<String>> {
    let path = workspace.join("seed/judged-queries.json");
    let judged: Vec<Value> = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )?;
    let queries: Vec<String> = judged
        .iter()
        .filter_map(|q| q["query"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(!queries.is_empty(), "{} holds no queries", path.display());
    Ok(queries)
}
