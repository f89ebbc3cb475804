//! The results: the machine they came from, every scenario's figures, and
//! the judgement of [`crate::targets`], written as a markdown table and as JSON.

use std::{fmt::Write as _, path::Path};

use anyhow::Context;
use serde::Serialize;

use crate::{
    child::Memory,
    database::Engine,
    load::Window,
    scenarios::{Measured, SaveCount, Server, Tool},
    targets::{self, Comparison, Fraction, Target},
};

/// Where and how the numbers were taken.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub date_utc: String,
    pub cpus: usize,
    pub cpu_model: String,
    /// The cargo profile the gateway was built with.
    pub gateway_profile: String,
    pub rmcp_version: String,
    /// `/proc/loadavg` when the run began: a busy machine shows here.
    pub load_average: String,
}

impl Machine {
    pub fn describe(workspace: &Path, gateway_profile: &str) -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|line| line.strip_prefix("model name"))
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            date_utc: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            gateway_profile: gateway_profile.to_owned(),
            rmcp_version: locked_version(workspace, "rmcp").unwrap_or_else(|| "unknown".into()),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .map(|text| {
                    text.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// The version `Cargo.lock` pins for `package`: what the gateway was built with.
fn locked_version(workspace: &Path, package: &str) -> Option<String> {
    let lock = std::fs::read_to_string(workspace.join("Cargo.lock")).ok()?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    lines.find(|line| *line == name_line)?;
    lines
        .next()?
        .strip_prefix("version = \"")?
        .strip_suffix('"')
        .map(str::to_owned)
}

/// One gateway process, seen from outside.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayFacts {
    pub store: Engine,
    pub start_to_first_call_ms: f64,
    /// Resident after start-up and sign-in, before any load.
    pub idle_rss_mib: f64,
    /// The most it was ever resident, read when its scenarios were done.
    pub peak_rss_mib: f64,
}

impl GatewayFacts {
    pub fn new(store: Engine, start: std::time::Duration, idle: Memory, end: Memory) -> Self {
        let mib = |kib: u64| kib as f64 / 1024.0;
        Self {
            store,
            start_to_first_call_ms: start.as_secs_f64() * 1000.0,
            idle_rss_mib: mib(idle.rss_kib),
            peak_rss_mib: mib(end.peak_kib),
        }
    }
}

/// Everything measured in one run, before any judgement.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Results {
    pub gateways: Vec<GatewayFacts>,
    pub scenarios: Vec<Measured>,
    pub saves: Vec<SaveCount>,
}

impl Results {
    pub(crate) fn find(&self, server: Server, tool: Tool, concurrency: usize) -> Option<&Measured> {
        self.find_on(server, tool, concurrency, None)
    }

    /// A scenario's figures; `store` narrows a gateway scenario to one engine.
    /// Measured in interleaved rounds, the round with the median req/s.
    pub(crate) fn find_on(
        &self,
        server: Server,
        tool: Tool,
        concurrency: usize,
        store: Option<Engine>,
    ) -> Option<&Measured> {
        let mut matches = self.scenarios.iter().filter(|m| {
            m.server == server
                && m.tool == tool
                && m.concurrency == concurrency
                && (store.is_none() || m.store == store)
        });
        let first = matches.next()?;
        if first.round.is_none() {
            return Some(first);
        }
        let mut rounds: Vec<&Measured> = std::iter::once(first).chain(matches).collect();
        rounds.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
        Some(rounds[(rounds.len() - 1) / 2])
    }

    pub(crate) fn gateway_rps(
        &self,
        tool: Tool,
        concurrency: usize,
        store: Option<Engine>,
    ) -> Option<f64> {
        self.find_on(Server::Gateway, tool, concurrency, store)
            .map(|m| m.requests_per_second)
    }

    pub(crate) fn main_gateway(&self) -> Option<&GatewayFacts> {
        self.gateways.first()
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RunSettings {
    pub warmup_s: f64,
    pub measure_s: f64,
    pub smoke: bool,
}

impl RunSettings {
    pub fn new(window: Window, smoke: bool) -> Self {
        Self {
            warmup_s: window.warmup.as_secs_f64(),
            measure_s: window.measure.as_secs_f64(),
            smoke,
        }
    }
}

/// The whole report: what `results.json` holds and `results.md` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: RunSettings,
    #[serde(flatten)]
    pub results: Results,
    pub versus_fastmcp: Vec<Comparison>,
    pub versus_references: Vec<Fraction>,
    pub targets: Vec<Target>,
    /// Errors and failed checks. Any one makes the run fail.
    pub problems: Vec<String>,
    pub passed: bool,
}

impl Report {
    pub fn new(machine: Machine, settings: RunSettings, results: Results) -> Self {
        let problems = targets::problems(&results);
        Self {
            machine,
            settings,
            versus_fastmcp: targets::versus_fastmcp(&results),
            versus_references: targets::versus_references(&results),
            targets: targets::targets(&results),
            passed: problems.is_empty(),
            problems,
            results,
        }
    }

    /// Writes `results.md` and `results.json` into `dir`.
    pub fn write(&self, dir: &Path, markdown: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(dir.join("results.md"), markdown)?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(self)? + "\n",
        )?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_markdown(&mut out);
        out
    }

    fn write_markdown(&self, out: &mut String) -> std::fmt::Result {
        let m = &self.machine;
        let s = &self.settings;
        writeln!(out, "# Gateway benchmark\n")?;
        writeln!(
            out,
            "{} · {} CPUs ({}) · load average at start {} · gateway build: {} · rmcp {} · \
             {} s warm-up, {} s measured per scenario{} · \
             load generator on the same machine, one keep-alive connection per concurrent client\n",
            m.date_utc,
            m.cpus,
            m.cpu_model,
            m.load_average,
            m.gateway_profile,
            m.rmcp_version,
            s.warmup_s,
            s.measure_s,
            if s.smoke {
                " (smoke run: not for comparison)"
            } else {
                ""
            },
        )?;

        writeln!(out, "## Scenarios\n")?;
        writeln!(
            out,
            "| scenario | server | store | concurrency | req/s | p50 ms | p99 ms | max ms | server CPU µs/call | errors | sample |"
        )?;
        writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
        for r in &self.results.scenarios {
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                r.tool.name(),
                match r.round {
                    Some(round) => format!("{}, round {round}", r.server.label()),
                    None => r.server.label().to_owned(),
                },
                r.store.map_or("–", Engine::label),
                r.concurrency,
                thousands(r.requests_per_second),
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                maybe(r.server_cpu_us_per_call, |us| format!("{us:.1}")),
                r.errors + r.warmup_errors,
                if r.sample_problem.is_none() {
                    "ok"
                } else {
                    "FAILED"
                },
            )?;
        }

        writeln!(out, "\n## Gateway process\n")?;
        writeln!(
            out,
            "| store | start → first tool call | idle RSS | peak RSS |"
        )?;
        writeln!(out, "|---|---:|---:|---:|")?;
        for g in &self.results.gateways {
            writeln!(
                out,
                "| {} | {:.1} ms | {:.1} MiB | {:.1} MiB |",
                g.store.label(),
                g.start_to_first_call_ms,
                g.idle_rss_mib,
                g.peak_rss_mib
            )?;
        }

        if !self.results.saves.is_empty() {
            writeln!(out, "\n## Saves: nothing lost\n")?;
            writeln!(
                out,
                "| store | users | acknowledged saves | versions stored | lost |"
            )?;
            writeln!(out, "|---|---:|---:|---:|---:|")?;
            for c in &self.results.saves {
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    c.store.label(),
                    c.users,
                    thousands(c.acknowledged as f64),
                    thousands(c.versions as f64),
                    c.lost()
                )?;
            }
        }

        writeln!(
            out,
            "\n## Against the references (same run, same machine)\n"
        )?;
        if let Some(rounds) = self.versus_references.iter().map(|f| f.rounds).max()
            && rounds > 1
        {
            writeln!(
                out,
                "Medians of {rounds} interleaved rounds: each share is the median of the \
                 rounds' own shares, each round measuring the three servers one after \
                 another.\n"
            )?;
        }
        writeln!(
            out,
            "| `domain_get_item` concurrency | gateway req/s | framework floor req/s | HTTP ceiling req/s | gateway ÷ floor | gateway ÷ ceiling | ceiling's CPU per call ÷ gateway's |"
        )?;
        writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|")?;
        for f in &self.versus_references {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.concurrency,
                maybe(f.gateway_rps, thousands),
                maybe(f.floor_rps, thousands),
                maybe(f.ceiling_rps, thousands),
                maybe(f.of_floor, percent),
                maybe(f.of_ceiling, percent),
                maybe(f.ceiling_cpu_share, percent),
            )?;
        }

        writeln!(
            out,
            "\n## Against the course's FastMCP reference (figures from the issue)\n"
        )?;
        writeln!(out, "| measure | gateway | FastMCP | gateway advantage |")?;
        writeln!(out, "|---|---:|---:|---:|")?;
        for c in &self.versus_fastmcp {
            writeln!(
                out,
                "| {} | {} | {} {} | {} |",
                c.measure,
                maybe(c.ours, |v| format!("{} {}", figure(v), c.unit)),
                c.fastmcp,
                c.unit,
                maybe(c.advantage, |a| format!("{a:.1}×")),
            )?;
        }

        writeln!(out, "\n## Targets\n")?;
        if self.settings.smoke || !self.machine.gateway_profile.starts_with("release") {
            writeln!(
                out,
                "The targets are for a release build measured for 10 s per scenario; \
                 this run is not one, so \"missed\" below says nothing about the gateway.\n"
            )?;
        }
        writeln!(out, "| target | measured | met |")?;
        writeln!(out, "|---|---:|---|")?;
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            writeln!(out, "| {} | {} | {met} |", t.target, t.measured)?;
        }

        if self.problems.is_empty() {
            writeln!(out, "\nNo errors; every sampled answer was a real success.")?;
        } else {
            writeln!(out, "\n## Problems (the run failed)\n")?;
            for p in &self.problems {
                writeln!(out, "- {p}")?;
            }
        }
        Ok(())
    }
}

pub(crate) fn maybe<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "–".into(), show)
}

pub(crate) fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// A figure as people write it: `12,345` for large ones, one decimal for small ones.
pub(crate) fn figure(value: f64) -> String {
    if value >= 100.0 {
        thousands(value)
    } else {
        format!("{value:.1}")
    }
}

/// `12345.6` → `12,346`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_as_people_read_them() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(figure(12.34), "12.3");
        assert_eq!(percent(0.756), "76%");
    }

    #[test]
    fn the_locked_rmcp_version_is_found() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert!(locked_version(&workspace, "rmcp").is_some());
        assert!(locked_version(&workspace, "no-such-package").is_none());
    }
}
