//! Search quality, measured: the judged queries beside the Reading Room
//! (`seed/judged-queries.json`, phrased as a model asks, each with graded
//! relevant articles) ranked by the index and by the substring scoring
//! `domain_search` used before it. Prints MRR and nDCG@5 for both, and
//! fails if the index is not clearly better.
//!
//! `cargo test -p gateway --test search_quality -- --nocapture` shows the table.

use std::{collections::HashMap, path::Path};

use gateway::{
    pack::{DomainPack, Item},
    search::SearchIndex,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Judged {
    query: String,
    /// Article id → 2 (what was asked for) or 1 (partly relevant).
    relevant: HashMap<String, u32>,
}

/// The scoring before the index: each query word found as a substring, a
/// title match worth 8, a tag 5, the summary 3, the body 1 per use (up to
/// 3); ties in catalog order. Kept here only as the baseline.
fn substring_ranking(items: &[Item], query: &str) -> Vec<String> {
    let terms: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut scored: Vec<(u32, usize)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let [title, tags, summary, body] = [
                item.title.to_lowercase(),
                item.tags.join(" ").to_lowercase(),
                item.summary.to_lowercase(),
                item.body.to_lowercase(),
            ];
            let score: u32 = terms
                .iter()
                .map(|t| {
                    u32::from(title.contains(t.as_str())) * 8
                        + u32::from(tags.contains(t.as_str())) * 5
                        + u32::from(summary.contains(t.as_str())) * 3
                        + (body.matches(t.as_str()).count().min(3) as u32)
                })
                .sum();
            (score > 0).then_some((score, i))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .map(|(_, i)| items[i].id.clone())
        .collect()
}

fn index_ranking(index: &SearchIndex, query: &str) -> Vec<String> {
    index
        .search(query, 20)
        .expect("every judged query has words")
        .into_iter()
        .map(|found| index.items()[found.position].id.clone())
        .collect()
}

/// 1 / the rank of the first relevant result (0 when none is returned).
fn reciprocal_rank(ranking: &[String], judged: &Judged) -> f64 {
    ranking
        .iter()
        .position(|id| judged.relevant.contains_key(id))
        .map_or(0.0, |at| 1.0 / (at + 1) as f64)
}

/// Discounted gain of the first five results (gain 2^grade − 1) over the
/// best possible order of the judged articles.
fn ndcg_at_5(ranking: &[String], judged: &Judged) -> f64 {
    let dcg = |grades: &mut dyn Iterator<Item = u32>| -> f64 {
        grades
            .take(5)
            .enumerate()
            .map(|(at, grade)| (2f64.powi(grade as i32) - 1.0) / ((at + 2) as f64).log2())
            .sum()
    };
    let got = dcg(&mut ranking
        .iter()
        .map(|id| judged.relevant.get(id).copied().unwrap_or(0)));
    let mut best: Vec<u32> = judged.relevant.values().copied().collect();
    best.sort_unstable_by(|a, b| b.cmp(a));
    got / dcg(&mut best.into_iter())
}

#[test]
fn the_index_ranks_the_judged_queries_clearly_better() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
    let pack = DomainPack::load(&seed).expect("the Reading Room loads");
    let judged: Vec<Judged> = serde_json::from_str(
        &std::fs::read_to_string(seed.join("judged-queries.json")).expect("judged queries"),
    )
    .expect("judged queries parse");
    assert!(judged.len() >= 30, "at least 30 judged queries");
    for query in &judged {
        for id in query.relevant.keys() {
            assert!(
                pack.get(id).is_some(),
                "{:?} judges unknown article {id}",
                query.query
            );
        }
    }
    let (index, _) = SearchIndex::build("Reading Room", pack.shared_items(), None).expect("builds");

    let mut totals = [[0.0; 2]; 2];
    println!("{:<70} {:>9} {:>9}", "query", "old RR", "new RR");
    for query in &judged {
        let old = substring_ranking(pack.items(), &query.query);
        let new = index_ranking(&index, &query.query);
        let scores = [&old, &new]
            .map(|ranking| [reciprocal_rank(ranking, query), ndcg_at_5(ranking, query)]);
        println!(
            "{:<70} {:>9.2} {:>9.2}",
            query.query, scores[0][0], scores[1][0]
        );
        for (total, score) in totals.iter_mut().zip(scores) {
            total[0] += score[0];
            total[1] += score[1];
        }
    }
    let n = judged.len() as f64;
    let [[old_mrr, old_ndcg], [new_mrr, new_ndcg]] = totals.map(|t| t.map(|x| x / n));
    println!("\n{} judged queries   MRR    nDCG@5", judged.len());
    println!("substring scoring  {old_mrr:.3}  {old_ndcg:.3}");
    println!("search index       {new_mrr:.3}  {new_ndcg:.3}");
    assert!(
        new_mrr >= old_mrr + 0.05 && new_ndcg >= old_ndcg + 0.05,
        "the index is not clearly better: MRR {old_mrr:.3} → {new_mrr:.3}, nDCG@5 {old_ndcg:.3} → {new_ndcg:.3}"
    );
}
