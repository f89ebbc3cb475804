//! A synthetic domain pack of any size, for measuring search at scale: the
//! Reading Room's articles, then generated articles in their vocabulary.
//!
//! Words follow Zipf's law, as words in real text do: the seed articles'
//! words, most frequent first, then made-up words for the long tail (a real
//! corpus of 100k articles has tens of thousands of distinct words, not the
//! two thousand of 14 articles). The same seed makes the same pack.

use std::{collections::HashMap, path::Path};

use anyhow::Context;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

/// Distinct words in the generated text, the seed's own included.
const VOCABULARY: usize = 40_000;
/// Zipf's exponent: about 1 for English.
const ZIPF_S: f64 = 1.0;

/// Writes a pack of `items` articles into `out` (pack.json, articles.json,
/// and the seed's rules and persona).
pub fn generate(seed_pack: &Path, out: &Path, items: usize, seed: u64) -> anyhow::Result<()> {
    let read = |name: &str| {
        std::fs::read_to_string(seed_pack.join(name))
            .with_context(|| format!("cannot read {}", seed_pack.join(name).display()))
    };
    let articles: Vec<Value> = serde_json::from_str(&read("articles.json")?)?;
    let words = Words::new(&articles);
    let tags: Vec<String> = {
        let mut tags: Vec<String> = articles
            .iter()
            .flat_map(|a| a["tags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        tags.sort();
        tags.dedup();
        tags
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut all = articles;
    for n in all.len()..items {
        let title = capitalised(&words.sentence(&mut rng, 3..8));
        let summary = format!("{}.", capitalised(&words.sentence(&mut rng, 12..26)));
        let mut body = String::with_capacity(1800);
        while body.len() < rng.random_range(1200..2000) {
            body.push_str(&capitalised(&words.sentence(&mut rng, 8..21)));
            body.push_str(". ");
        }
        let picked: Vec<&String> = (0..rng.random_range(2..4))
            .map(|_| &tags[rng.random_range(0..tags.len())])
            .collect();
        all.push(json!({
            "id": format!("g{n}"),
            "title": title,
            "tags": picked,
            "summary": summary,
            "body": body.trim_end(),
        }));
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("articles.json"), serde_json::to_vec(&all)?)?;
    std::fs::write(
        out.join("pack.json"),
        serde_json::to_vec(&json!({
            "name": format!("Reading Room ({items} articles)"),
            "item_noun": "article",
            "items": "articles.json",
            "rules": "rules.md",
            "persona": "persona.md",
        }))?,
    )?;
    for name in ["rules.md", "persona.md"] {
        std::fs::write(out.join(name), read(name)?)?;
    }
    std::fs::write(
        out.join(MARK),
        "written by `bench --big-pack`; the next such run may overwrite this folder\n",
    )?;
    Ok(())
}

/// Marks a folder [`generate`] wrote, so a later run may write it again.
const MARK: &str = ".generated-pack";

/// Refuses a folder that is neither missing, empty, nor an earlier
/// generated pack: writing a pack there would overwrite someone's files
/// (`--keep-pack seed` would replace the Reading Room's own articles).
pub fn check_writable(out: &Path) -> anyhow::Result<()> {
    let mut entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", out.display())),
    };
    if entries.next().is_none() || out.join(MARK).is_file() {
        return Ok(());
    }
    anyhow::bail!(
        "{} already holds files that `bench --big-pack` did not write; \
         give --keep-pack a new or empty folder",
        out.display()
    )
}

/// The vocabulary, ranked, with the cumulative Zipf weights to draw from.
struct Words {
    ranked: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    fn new(articles: &[Value]) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for article in articles {
            for field in ["title", "summary", "body"] {
                let text = article[field].as_str().unwrap_or_default().to_lowercase();
                for word in text
                    .split(|c: char| !c.is_alphabetic())
                    .filter(|w| !w.is_empty())
                {
                    *counts.entry(word.to_owned()).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
        // Most frequent first; ties alphabetical, so the order is the same every run.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut ranked: Vec<String> = ranked.into_iter().map(|(word, _)| word).collect();
        let mut made_up = StdRng::seed_from_u64(0x5eed);
        while ranked.len() < VOCABULARY {
            ranked.push(made_up_word(&mut made_up));
        }
        let mut total = 0.0;
        let cumulative = (1..=ranked.len())
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(ZIPF_S);
                total
            })
            .collect();
        Self { ranked, cumulative }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = rng.random::<f64>() * total;
        let at = self.cumulative.partition_point(|&c| c < target);
        &self.ranked[at.min(self.ranked.len() - 1)]
    }

    fn sentence(&self, rng: &mut StdRng, length: std::ops::Range<usize>) -> String {
        let n = rng.random_range(length);
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }
}

/// A pronounceable word of two to four syllables.
fn made_up_word(rng: &mut StdRng) -> String {
    const ONSETS: [&str; 16] = [
        "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st", "tr",
    ];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ea"];
    (0..rng.random_range(2..5))
        .map(|_| {
            format!(
                "{}{}",
                ONSETS[rng.random_range(0..ONSETS.len())],
                VOWELS[rng.random_range(0..VOWELS.len())]
            )
        })
        .collect()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_pack() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed")
    }

    #[test]
    fn the_same_seed_makes_the_same_pack() {
        let [a, b] = [(); 2].map(|()| tempfile::tempdir().expect("temp dir"));
        generate(&seed_pack(), a.path(), 200, 7).expect("generates");
        generate(&seed_pack(), b.path(), 200, 7).expect("generates");
        let read = |dir: &Path| std::fs::read(dir.join("articles.json")).expect("written");
        assert_eq!(read(a.path()), read(b.path()));
        let articles: Vec<Value> = serde_json::from_slice(&read(a.path())).expect("json");
        assert_eq!(articles.len(), 200);
        assert_eq!(articles[0]["id"], "a1", "the seed's articles come first");
        assert_eq!(articles[199]["id"], "g199");
    }

    #[test]
    fn a_kept_pack_never_overwrites_files_it_did_not_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("new");
        check_writable(&missing).expect("a new folder");
        check_writable(dir.path()).expect("an empty folder");
        generate(&seed_pack(), &missing, 100, 7).expect("generates");
        check_writable(&missing).expect("an earlier generated pack");
        let error = check_writable(&seed_pack()).expect_err("the seed pack is not ours");
        assert!(error.to_string().contains("--keep-pack"), "{error}");
    }

    #[test]
    fn words_follow_zipf() {
        let words = Words::new(&[json!({"title": "the the the a", "summary": "", "body": "b"})]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for _ in 0..100_000 {
            *counts.entry(words.word(&mut rng)).or_default() += 1;
        }
        // Rank 1 is drawn about twice as often as rank 2.
        let ratio = counts["the"] as f64 / counts["a"] as f64;
        assert!((1.7..2.3).contains(&ratio), "{ratio}");
    }
}
