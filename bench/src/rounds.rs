//! `--get-item-only --rounds N`: the gateway and both references measured
//! in interleaved rounds rather than one after another.
//!
//! The gateway's share of the HTTP ceiling is a ratio of two throughputs
//! measured on a machine whose other tenants come and go. Measured minutes
//! apart (the gateway's scenarios, then the ceiling's), the ceiling alone
//! moved by a third between runs, more than any one change to the gateway
//! is worth. Here all three servers run at once, idle but for the one under
//! load, and each round loads them one after another (the order turning
//! round by round), so a round's shares are taken seconds apart. The report
//! gives the median of the rounds' shares (`targets::versus_references`).

use std::path::Path;

use anyhow::Context;

use crate::{
    child::Child,
    database::Database,
    gateway::{Binary, Gateway},
    issuer::LocalIssuer,
    load::Window,
    references::Reference,
    report::{GatewayFacts, Results},
    scenarios::{self, Server, Tool},
};

/// Runs `rounds` rounds of the `domain_get_item` comparison at 16 and 64
/// clients, each window `window` long, into `results`.
pub async fn interleaved(
    binary: &Binary,
    issuer: &LocalIssuer,
    app_dir: &Path,
    rounds: usize,
    window: Window,
    results: &mut Results,
) -> anyhow::Result<()> {
    let sqlite = Database::sqlite()?;
    let engine = sqlite.engine();
    eprintln!("bench: starting the gateway on {}", engine.label());
    let mut gateway = Gateway::spawn(binary, &sqlite, issuer.url(), app_dir, None)?;
    let most = scenarios::REFERENCES
        .iter()
        .map(|s| s.concurrency)
        .max()
        .unwrap_or(1);
    let signed_in = scenarios::sign_in(&mut gateway, issuer, most).await?;
    let idle = gateway.child.memory()?;
    let user = signed_in.users.first().context("no signed-in users")?;

    // The references answer with the gateway's own bytes, as in a full run.
    let probe = user.call(gateway.addr, Tool::DomainGetItem)?;
    let (_, answer) = gateway.child.first_success(gateway.addr, &probe).await?;
    let answer_file = tempfile::NamedTempFile::new()?;
    std::fs::write(answer_file.path(), &answer)?;
    let mut servers = vec![(Server::Gateway, gateway.addr)];
    let mut references: Vec<Child> = Vec::new();
    for reference in [Reference::Ceiling, Reference::Floor] {
        let (child, addr) = reference.start(answer_file.path(), user).await?;
        servers.push((reference.into(), addr));
        references.push(child);
    }

    for round in 1..=rounds {
        eprintln!("bench: round {round} of {rounds}");
        for &scenario in &scenarios::REFERENCES {
            // Each server goes first, second and last equally often.
            let mut order = servers.clone();
            order.rotate_left(round % servers.len());
            for (server, addr) in order {
                let process = match server {
                    Server::Gateway => &mut gateway.child,
                    Server::HttpCeiling => &mut references[0],
                    Server::FrameworkFloor => &mut references[1],
                };
                process.ensure_running()?;
                let store = (server == Server::Gateway).then_some(engine);
                let (mut measured, _) = scenarios::measure(
                    process,
                    addr,
                    server,
                    store,
                    scenario,
                    &signed_in.users,
                    window,
                )
                .await?;
                measured.round = Some(round);
                results.scenarios.push(measured);
            }
        }
    }

    let end = gateway.child.memory()?;
    gateway.child.stop().await;
    for child in references {
        child.stop().await;
    }
    results.gateways.push(GatewayFacts::new(
        engine,
        signed_in.start_to_first_call,
        idle,
        end,
    ));
    Ok(())
}
