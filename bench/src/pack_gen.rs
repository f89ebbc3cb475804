//! A synthetic domain pack of any size, for measuring search at scale: the
//! Reading Room's articles, then generated articles in their vocabulary.
//!
//! Words follow Zipf's law, as words in real text do: the seed articles'
//! words, most frequent first, then made-up words for the long tail (a real
//! corpus of 100k articles has tens of thousands of distinct words, not the
//! two thousand of 14 articles). The same seed makes the same pack.
//!
//! How the words are spread over the articles is the [`Spread`]: evenly,
//! or by topic as in a real catalog.

use std::{
    collections::{BTreeSet, HashMap},
    path::Path,
};

use anyhow::Context;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use serde_json::{Value, json};

/// Distinct words in the generated text, the seed's own included.
const VOCABULARY: usize = 40_000;
/// Zipf's exponent: about 1 for English.
const ZIPF_S: f64 = 1.0;
/// With [`Spread::Topics`]: a seed word in at least this share of the seed
/// articles is a general word ("the", "read", "often"), used by every topic.
const GENERAL_IN_SEED_ARTICLES: f64 = 1.0 / 3.0;
/// The share of an article's words that are general words; about half of
/// English running text is such words.
const GENERAL_SHARE: f64 = 0.5;
/// One made-up topic per this many generated articles, so that each topic
/// keeps a few hundred articles however big the pack.
const ARTICLES_PER_TOPIC: usize = 250;
/// The content words of one made-up topic.
const TOPIC_WORDS: usize = 150;

/// How the generated articles' words are spread over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Spread {
    /// Every word of every article drawn from one Zipf list: a seed word
    /// such as `paper` ends up in half of all articles, so every query
    /// word has a long posting list: the harsher case for an index.
    Even,
    /// Each article is about one or two topics: half its words are general
    /// words, the rest its topics' own. A topic word ("yeast", "sleep") is
    /// frequent in a few hundred articles and absent from the others, as
    /// in a real catalog. The 14 seed articles are 14 of the topics; the
    /// others are content words drawn uniformly from the vocabulary.
    Topics,
}

/// Writes a pack of `items` articles into `out` (pack.json, articles.json,
/// and the seed's rules and persona).
pub fn generate(
    seed_pack: &Path,
    out: &Path,
    items: usize,
    spread: Spread,
    seed: u64,
) -> anyhow::Result<()> {
    let read = |name: &str| {
        std::fs::read_to_string(seed_pack.join(name))
            .with_context(|| format!("cannot read {}", seed_pack.join(name).display()))
    };
    let articles: Vec<Value> = serde_json::from_str(&read("articles.json")?)?;
    let tags: Vec<String> = {
        let mut tags: Vec<String> = articles.iter().flat_map(tags_of).collect();
        tags.sort();
        tags.dedup();
        tags
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let words = Words::new(&articles, items, spread, &mut rng);
    let mut all = articles;
    for n in all.len()..items {
        let about = words.topics(&mut rng);
        let title = capitalised(&words.sentence(&about, &mut rng, 3..8));
        let summary = format!(
            "{}.",
            capitalised(&words.sentence(&about, &mut rng, 12..26))
        );
        let mut body = String::with_capacity(1800);
        while body.len() < rng.random_range(1200..2000) {
            body.push_str(&capitalised(&words.sentence(&about, &mut rng, 8..21)));
            body.push_str(". ");
        }
        let picked: Vec<&String> = if about.is_empty() {
            (0..rng.random_range(2..4))
                .map(|_| &tags[rng.random_range(0..tags.len())])
                .collect()
        } else {
            let mut picked: Vec<&String> = Vec::new();
            for tag in about.iter().flat_map(|topic| &topic.tags) {
                if !picked.contains(&tag) && picked.len() < 3 {
                    picked.push(tag);
                }
            }
            picked
        };
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

/// Words ranked by frequency, with the cumulative Zipf weights to draw from.
struct Zipf {
    ranked: Vec<String>,
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(ranked: Vec<String>) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=ranked.len())
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(ZIPF_S);
                total
            })
            .collect();
        Self { ranked, cumulative }
    }

    fn draw(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = rng.random::<f64>() * total;
        let at = self.cumulative.partition_point(|&c| c < target);
        &self.ranked[at.min(self.ranked.len() - 1)]
    }
}

/// What an article can be about: its own words, and its tags.
struct Topic {
    words: Zipf,
    tags: Vec<String>,
}

/// Where the generated articles' words come from.
enum Words {
    Even(Zipf),
    Topics { general: Zipf, topics: Vec<Topic> },
}

impl Words {
    fn new(articles: &[Value], items: usize, spread: Spread, rng: &mut StdRng) -> Self {
        let texts: Vec<String> = articles.iter().map(text_of).collect();
        let mut ranked = ranked_words(texts.iter().map(String::as_str));
        let mut made_up = StdRng::seed_from_u64(0x5eed);
        while ranked.len() < VOCABULARY {
            ranked.push(made_up_word(&mut made_up));
        }
        if spread == Spread::Even {
            return Self::Even(Zipf::new(ranked));
        }
        let mut in_articles: HashMap<&str, usize> = HashMap::new();
        for text in &texts {
            for word in words_of(text).collect::<BTreeSet<_>>() {
                *in_articles.entry(word).or_default() += 1;
            }
        }
        let general_at = (texts.len() as f64 * GENERAL_IN_SEED_ARTICLES).ceil() as usize;
        let (general, content): (Vec<String>, Vec<String>) = ranked.into_iter().partition(|word| {
            in_articles.get(word.as_str()).copied().unwrap_or(0) >= general_at.max(2)
        });
        let general_set: BTreeSet<&str> = general.iter().map(String::as_str).collect();
        let mut topics: Vec<Topic> = articles
            .iter()
            .zip(&texts)
            .map(|(article, text)| Topic {
                words: Zipf::new(
                    ranked_words(std::iter::once(text.as_str()))
                        .into_iter()
                        .filter(|word| !general_set.contains(word.as_str()))
                        .collect(),
                ),
                tags: tags_of(article).collect(),
            })
            // An article of only general words is no topic (and nothing to draw).
            .filter(|topic| !topic.words.ranked.is_empty())
            .collect();
        // Drawn uniformly, not by frequency: drawn by Zipf, the seed's
        // commonest content words would be in every topic, and so in most
        // articles again (`sleep` was in 60% of them).
        for _ in 0..(items / ARTICLES_PER_TOPIC).max(1) {
            let words: Vec<String> = rand::seq::index::sample(rng, content.len(), TOPIC_WORDS)
                .into_iter()
                .map(|at| content[at].clone())
                .collect();
            let tags = words.iter().take(2).cloned().collect();
            topics.push(Topic {
                words: Zipf::new(words),
                tags,
            });
        }
        Self::Topics {
            general: Zipf::new(general),
            topics,
        }
    }

    /// The one or two topics of the next article (none when words are even).
    fn topics(&self, rng: &mut StdRng) -> Vec<&Topic> {
        match self {
            Self::Even(_) => Vec::new(),
            Self::Topics { topics, .. } => (0..rng.random_range(1..=2))
                .map(|_| &topics[rng.random_range(0..topics.len())])
                .collect(),
        }
    }

    fn word<'a>(&'a self, about: &[&'a Topic], rng: &mut StdRng) -> &'a str {
        match self {
            Self::Even(words) => words.draw(rng),
            Self::Topics { general, .. } => {
                if about.is_empty() || rng.random_bool(GENERAL_SHARE) {
                    general.draw(rng)
                } else {
                    about[rng.random_range(0..about.len())].words.draw(rng)
                }
            }
        }
    }

    fn sentence(
        &self,
        about: &[&Topic],
        rng: &mut StdRng,
        length: std::ops::Range<usize>,
    ) -> String {
        let n = rng.random_range(length);
        (0..n)
            .map(|_| self.word(about, rng))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// An article's title, summary and body, lower-cased.
fn text_of(article: &Value) -> String {
    ["title", "summary", "body"]
        .map(|field| article[field].as_str().unwrap_or_default().to_lowercase())
        .join(" ")
}

fn tags_of(article: &Value) -> impl Iterator<Item = String> + '_ {
    article["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tag| tag.as_str().map(str::to_owned))
}

fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
}

/// The distinct words of `texts`, most frequent first; ties alphabetical,
/// so the order is the same every run.
fn ranked_words<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for text in texts {
        for word in words_of(text) {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .map(|(word, _)| word.to_owned())
        .collect()
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

    fn read_articles(dir: &Path) -> Vec<Value> {
        serde_json::from_slice(&std::fs::read(dir.join("articles.json")).expect("written"))
            .expect("json")
    }

    #[test]
    fn the_same_seed_makes_the_same_pack() {
        for spread in [Spread::Topics, Spread::Even] {
            let [a, b] = [(); 2].map(|()| tempfile::tempdir().expect("temp dir"));
            generate(&seed_pack(), a.path(), 200, spread, 7).expect("generates");
            generate(&seed_pack(), b.path(), 200, spread, 7).expect("generates");
            let articles = read_articles(a.path());
            assert_eq!(articles, read_articles(b.path()), "{spread:?}");
            assert_eq!(articles.len(), 200);
            assert_eq!(articles[0]["id"], "a1", "the seed's articles come first");
            assert_eq!(articles[199]["id"], "g199");
        }
    }

    /// A seed article's topic words are in a few of the articles and used
    /// often in each; spread evenly, they are in more and used about once.
    #[test]
    fn topic_words_are_bursty_and_general_words_are_everywhere() {
        let generated = |spread: Spread| {
            let dir = tempfile::tempdir().expect("temp dir");
            generate(&seed_pack(), dir.path(), 3000, spread, 7).expect("generates");
            read_articles(dir.path()).split_off(14)
        };
        // The share of the articles that use `word`, and its uses in each of those.
        let uses = |articles: &[Value], word: &str| {
            let counts: Vec<usize> = articles
                .iter()
                .map(|article| words_of(&text_of(article)).filter(|w| *w == word).count())
                .filter(|&n| n > 0)
                .collect();
            let share = counts.len() as f64 / articles.len() as f64;
            let per_article = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
            (share, per_article)
        };
        let [topics, even] = [Spread::Topics, Spread::Even].map(generated);
        for word in ["yeast", "sleep", "lighthouse"] {
            let (topics_share, topics_uses) = uses(&topics, word);
            let (even_share, even_uses) = uses(&even, word);
            assert!(
                topics_share < 0.2 && topics_uses >= 2.0,
                "{word}: {topics_share} {topics_uses}"
            );
            assert!(
                topics_share < even_share,
                "{word}: {topics_share} vs {even_share}"
            );
            assert!(even_uses < 1.5, "{word}: {even_share} {even_uses}");
        }
        let (the_share, _) = uses(&topics, "the");
        assert!(the_share > 0.99, "{the_share}");
    }

    #[test]
    fn a_kept_pack_never_overwrites_files_it_did_not_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("new");
        check_writable(&missing).expect("a new folder");
        check_writable(dir.path()).expect("an empty folder");
        generate(&seed_pack(), &missing, 100, Spread::Topics, 7).expect("generates");
        check_writable(&missing).expect("an earlier generated pack");
        let error = check_writable(&seed_pack()).expect_err("the seed pack is not ours");
        assert!(error.to_string().contains("--keep-pack"), "{error}");
    }

    #[test]
    fn words_follow_zipf() {
        let words = Zipf::new(["the", "a", "b"].map(str::to_owned).to_vec());
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for _ in 0..100_000 {
            *counts.entry(words.draw(&mut rng)).or_default() += 1;
        }
        // Rank 1 is drawn about twice as often as rank 2.
        let ratio = counts["the"] as f64 / counts["a"] as f64;
        assert!((1.7..2.3).contains(&ratio), "{ratio}");
    }
}
