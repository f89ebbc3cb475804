//! What one search costs, without HTTP: the index of a pack, opened from its
//! cache (or built into it), and each judged query of
//! `seed/judged-queries.json` run many times on one thread. Prints each
//! query's median time, their mean (the CPU one search costs over the judged
//! mix), and the mean reciprocal rank of the judged articles in this pack.
//!
//! ```sh
//! cargo run --release -p bench -- --big-pack 100000 --keep-pack target/big-pack
//! cargo run --release -p gateway --example search_cost -- target/big-pack
//! ```

use std::{collections::HashMap, path::PathBuf, time::Instant};

use gateway::{pack::DomainPack, search::SearchIndex};

/// Results per search, as `domain_search` asks by default.
const LIMIT: usize = 5;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("search_cost: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let pack_dir = PathBuf::from(
        args.next()
            .ok_or("usage: search_cost <pack dir> [rounds]")?,
    );
    let rounds: usize = match args.next() {
        Some(n) => n
            .to_str()
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .ok_or("rounds (the second argument) must be a whole number of 1 or more")?,
        None => 50,
    };
    let seed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../seed");
    let judged: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(seed.join("judged-queries.json"))?)?;

    let pack = DomainPack::load(&pack_dir)?;
    let started = Instant::now();
    let (index, origin) = SearchIndex::build(
        "search-cost",
        pack.shared_items(),
        Some(&pack_dir.join(".search-cache")),
    )?;
    println!(
        "{} items, index {origin:?} in {:.2} s",
        index.items().len(),
        started.elapsed().as_secs_f64()
    );

    let mut medians = Vec::new();
    let mut reciprocal_ranks = 0.0;
    for entry in &judged {
        let query = entry["query"]
            .as_str()
            .ok_or("a judged query without text")?;
        let relevant: HashMap<String, serde_json::Value> =
            serde_json::from_value(entry["relevant"].clone())?;
        let mut times = Vec::with_capacity(rounds);
        let mut found = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            found = index.search(query, LIMIT)?;
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        medians.push(median);
        let rank = found
            .iter()
            .position(|hit| relevant.contains_key(&index.items()[hit.position].id));
        reciprocal_ranks += rank.map_or(0.0, |at| 1.0 / (at + 1) as f64);
        // 1 for the first result; `-` when the judged article is not among them.
        let shown = rank.map_or("-".to_owned(), |at| (at + 1).to_string());
        println!("{median:>9.0} µs  rank {shown:>2}  {query}");
    }
    let mean = |times: &[f64]| times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "mean of medians {:.0} µs (the first 16 queries, the bench's clients: {:.0} µs); MRR@{LIMIT} {:.3}",
        mean(&medians),
        mean(&medians[..medians.len().min(16)]),
        reciprocal_ranks / judged.len() as f64
    );
    Ok(())
}
