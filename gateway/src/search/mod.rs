//! Full-text search over catalog items: BM25 with English stemming, field
//! boosts, quoted phrases, one typo forgiven in longer words, and a short
//! highlighted snippet per hit. The ranking is tantivy's, a well-kept library;
//! this module decides what is indexed, how a model's query becomes a tantivy
//! query (never through tantivy's query syntax, so a query cannot inject
//! field prefixes or operators), and where the index is kept.
//!
//! The index is built from the items at start. With a cache folder, it is kept
//! there under a hash of the items, so a restart with the same items opens it
//! instead of rebuilding. Several processes may share the folder: each builds
//! in a folder of its own and renames it into place.
//!
//! ```
//! use gateway::{pack::Item, search::SearchIndex};
//!
//! let item = |id: &str, title: &str, body: &str| Item {
//!     id: id.into(),
//!     title: title.into(),
//!     author: None,
//!     tags: vec![],
//!     summary: title.into(),
//!     body: body.into(),
//! };
//! let slots = vec![
//!     item("s1", "Morning yoga", "A slow class for stretching before work."),
//!     item("s2", "Evening pottery", "Throw bowls on the wheel."),
//! ];
//! let (index, _) = SearchIndex::build("classes", slots.into(), None).expect("builds");
//! let hits = index.search("stretch", 5).expect("a valid query");
//! assert_eq!(index.items()[hits[0].position].id, "s1");
//! assert!(hits[0].snippet.contains("**stretching**"));
//! ```

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, LazyLock},
};

use sha2::{Digest, Sha256};
use tantivy::{
    DocId, Index, IndexReader, IndexSettings, IndexSortByField, IndexWriter, Order, ReloadPolicy,
    TantivyDocument, Term,
    collector::TopDocs,
    indexer::{IndexWriterOptions, NoMergePolicy},
    query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery},
    schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions},
    tokenizer::{
        AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
        StopWordFilter, TextAnalyzer, TokenStream, TokenizerManager,
    },
};

use crate::pack::Item;

mod passages;
mod snippet;
mod typo;

use passages::Passages;
use snippet::Snippets;
use typo::Dictionary;

/// Changes whenever what is indexed or how it is analysed changes, so an
/// index cached by an older build is never opened by a newer one.
const FORMAT: &str = "kit-search-3 tantivy-0.27";
const ANALYZER: &str = "kit_english";
/// How much a match in each field counts, relative to the body's.
const BOOSTS: [(&str, f32); 4] = [
    ("title", 3.0),
    ("tags", 2.0),
    ("summary", 1.5),
    ("body", 1.0),
];
/// Where the summary and the body are in [`BOOSTS`] (and `fields`).
const SUMMARY: usize = 2;
const BODY: usize = 3;
/// Words at least this long are forgiven one typo when they match nothing.
const TYPO_MIN_CHARS: usize = 5;
/// At most this many words of one query are looked at for typos.
const TYPO_MAX_WORDS: usize = 8;
/// The indexer's buffer before it writes a segment; segments are merged into
/// one at the end, whatever their number.
const INDEXING_BUFFER: usize = 256 * 1024 * 1024;

/// A search index over items, with the items it was built from.
pub struct SearchIndex {
    items: Arc<[Item]>,
    reader: IndexReader,
    /// title, tags, summary, body: in [`BOOSTS`]' order.
    fields: [Field; 4],
    analyzer: TextAnalyzer,
    /// Every indexed word, for the typo check.
    dictionary: Dictionary,
    /// Where each body's passages start, for snippets.
    passages: Passages,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

/// One match: the item's position in [`SearchIndex::items`], its score and a
/// snippet of its body (or summary) with the matched words in `**bold**`.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub position: usize,
    pub score: f32,
    pub snippet: String,
}

/// How the index came to be, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Opened from the cache folder, as built by an earlier start.
    Cached(PathBuf),
    /// Built now, and kept in the cache folder.
    Built(PathBuf),
    /// Built now, in memory only.
    InMemory,
}

/// The index could not be built or opened.
#[derive(Debug, thiserror::Error)]
#[error("search index {}: {problem}", place.display())]
pub struct SearchError {
    place: PathBuf,
    problem: String,
}

/// A query with nothing to look for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the query has no words to look for (punctuation and very common words such as `the`, `how` or `you` are ignored)"
)]
pub struct EmptyQuery;

impl SearchIndex {
    /// Builds the index over `items`, or opens the one a previous start kept
    /// in `cache` for exactly these items. `name` labels the cache entry (the
    /// pack's name); an entry for other items under the same name is removed
    /// once the new one is in place.
    pub fn build(
        name: &str,
        items: Arc<[Item]>,
        cache: Option<&Path>,
    ) -> Result<(Self, Origin), SearchError> {
        let Some(cache) = cache else {
            let (index, passages) = create(IndexPlace::Memory, &items)?;
            let index = Self::open(index, items, passages, Path::new("memory"))?;
            return Ok((index, Origin::InMemory));
        };
        let prefix = format!("{}-", slug(name));
        let dir = cache.join(format!("{prefix}{}", key(&items)));
        if dir.is_dir() {
            match Index::open_in_dir(&dir)
                .map_err(|e| fail(&dir, e))
                .and_then(|index| {
                    let passages = Passages::read(&dir, &items).map_err(|e| fail(&dir, e))?;
                    Self::open(index, items.clone(), passages, &dir)
                }) {
                Ok(index) => return Ok((index, Origin::Cached(dir))),
                Err(error) => {
                    tracing::warn!(%error, "the cached search index is unusable; rebuilding it");
                    let _ = fs::remove_dir_all(&dir);
                }
            }
        }
        fs::create_dir_all(cache).map_err(|e| fail(cache, e))?;
        // Built aside and renamed into place: a reader never sees half an
        // index, and two processes building at once do not collide.
        let building = cache.join(format!(
            ".building-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::create_dir_all(&building).map_err(|e| fail(&building, e))?;
        let built = create(IndexPlace::Dir(&building), &items);
        let placed = built.and_then(|(index, passages)| {
            drop(index);
            passages.write(&building).map_err(|e| fail(&building, e))?;
            match fs::rename(&building, &dir) {
                Ok(()) => Ok(passages),
                // Another process put the same index in place first.
                Err(_) if dir.is_dir() => Ok(passages),
                Err(e) => Err(fail(&dir, e)),
            }
        });
        let _ = fs::remove_dir_all(&building);
        let passages = placed?;
        remove_stale(cache, &prefix, &dir);
        let index = Index::open_in_dir(&dir).map_err(|e| fail(&dir, e))?;
        Ok((
            Self::open(index, items, passages, &dir)?,
            Origin::Built(dir),
        ))
    }

    /// The items, in the order they were given.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The best `limit` matches for `query`, best first; equal scores keep
    /// the items' order, so the same query on the same items always answers
    /// the same. Text in double quotes must appear as a phrase.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Found>, EmptyQuery> {
        let searcher = self.reader.searcher();
        let query = self.query(query).ok_or(EmptyQuery)?;
        let top = searcher
            .search(&*query, &TopDocs::with_limit(limit).order_by_score())
            .unwrap_or_default();
        // A snippet of the body where the query's words are in it, else of
        // the summary (looked at only for those hits).
        let docs: Vec<DocId> = top.iter().map(|(_, address)| address.doc_id).collect();
        let item = |doc: DocId| &self.items[doc as usize];
        let mut body = Snippets::new(&searcher, &*query, self.fields[BODY], &docs);
        let mut snippets: Vec<String> = docs
            .iter()
            .map(|&doc| {
                let passages = self.passages.of_item(doc as usize);
                body.snippet(doc, &item(doc).body, passages)
            })
            .collect();
        let bare: Vec<DocId> = docs
            .iter()
            .zip(&snippets)
            .filter(|(_, snippet)| snippet.is_empty())
            .map(|(&doc, _)| doc)
            .collect();
        if !bare.is_empty() {
            let mut summary = Snippets::new(&searcher, &*query, self.fields[SUMMARY], &bare);
            let (mut analyzer, mut passages) = (self.analyzer.clone(), Vec::new());
            for (snippet, &doc) in snippets.iter_mut().zip(&docs) {
                // A summary is short: its passages are found now.
                passages.clear();
                if snippet.is_empty()
                    && snippet::starts(&item(doc).summary, &mut analyzer, &mut passages).is_some()
                {
                    *snippet = summary.snippet(doc, &item(doc).summary, &passages);
                }
            }
        }
        Ok(top
            .into_iter()
            .zip(snippets)
            .map(|((score, address), snippet)| Found {
                // One segment whose documents are in the items' order.
                position: address.doc_id as usize,
                score,
                snippet,
            })
            .collect())
    }

    fn open(
        index: Index,
        items: Arc<[Item]>,
        passages: Passages,
        place: &Path,
    ) -> Result<Self, SearchError> {
        let schema = index.schema();
        let field = |name: &str| schema.get_field(name).map_err(|e| fail(place, e));
        let fields = [
            field("title")?,
            field("tags")?,
            field("summary")?,
            field("body")?,
        ];
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| fail(place, e))?;
        let searcher = reader.searcher();
        // Positions are document ids: one segment, every item, none deleted.
        let segments = searcher.segment_readers();
        if segments.len() != 1
            || segments[0].max_doc() as usize != items.len()
            || segments[0].num_deleted_docs() != 0
        {
            return Err(fail(
                place,
                "does not hold exactly the items, in one segment",
            ));
        }
        let dictionary = Dictionary::of(&segments[0], &fields).map_err(|e| fail(place, e))?;
        Ok(Self {
            items,
            reader,
            fields,
            analyzer: analyzer(),
            dictionary,
            passages,
        })
    }

    /// The model's words as a tantivy query: each word, stemmed, in any
    /// field (boosted by field); each quoted phrase required as a phrase.
    fn query(&self, text: &str) -> Option<Box<dyn Query>> {
        let mut analyzer = self.analyzer.clone();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut typo_checks = 0;
        for (quoted, part) in split_phrases(text) {
            let words = tokens(&mut analyzer, part);
            if quoted && words.len() > 1 {
                let per_field = self.per_field(|field| {
                    let terms = words
                        .iter()
                        .map(|(at, word)| (*at, Term::from_field_text(field, word)))
                        .collect();
                    Box::new(PhraseQuery::new_with_offset(terms))
                });
                clauses.push((Occur::Must, per_field));
                continue;
            }
            for (_, word) in words {
                clauses.extend(self.word(&word));
            }
            // Longer words that match nothing may be one typo away from one that does.
            for raw in part.split(|c: char| !c.is_alphanumeric()) {
                if raw.chars().count() < TYPO_MIN_CHARS {
                    continue;
                }
                let stems = tokens(&mut analyzer, raw);
                let [(_, stem)] = stems.as_slice() else {
                    continue;
                };
                if typo_checks == TYPO_MAX_WORDS || self.dictionary.knows(stem) {
                    continue;
                }
                typo_checks += 1;
                if let Some(fixed) = self.dictionary.one_edit_from(stem) {
                    clauses.extend(self.word(&fixed));
                }
            }
        }
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    /// `make(field)` in every field, each boosted by its weight.
    fn per_field(&self, make: impl Fn(Field) -> Box<dyn Query>) -> Box<dyn Query> {
        let clauses = self
            .fields
            .iter()
            .zip(BOOSTS)
            .map(|(&field, (_, boost))| {
                let query: Box<dyn Query> = Box::new(BoostQuery::new(make(field), boost));
                (Occur::Should, query)
            })
            .collect();
        Box::new(BooleanQuery::new(clauses))
    }

    /// `stem` in every field, boosted by field, as optional clauses of the
    /// one top-level query: all term scorers side by side, so tantivy can
    /// skip blocks that cannot reach the top hits (block-max WAND) instead
    /// of scoring every item that holds a common word.
    fn word(&self, stem: &str) -> impl Iterator<Item = (Occur, Box<dyn Query>)> + '_ {
        let stem = stem.to_owned();
        self.fields
            .iter()
            .zip(BOOSTS)
            .map(move |(&field, (_, boost))| {
                let term = TermQuery::new(
                    Term::from_field_text(field, &stem),
                    IndexRecordOption::WithFreqs,
                );
                let query: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(term), boost));
                (Occur::Should, query)
            })
    }
}

/// English words that say nothing about what an item is about: pronouns,
/// auxiliaries, articles, question words, the commonest prepositions and
/// conjunctions. A model phrases its searches as questions ("how does…",
/// "why do you…"), and these words are in most items of any catalog: they
/// barely move a ranking, but each costs one of the longest posting lists
/// to score. (tantivy's own English list has only the 33 of the first kind.)
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "between", "both", "but", "by", "can", "could", "did",
    "do", "does", "doing", "during", "each", "for", "from", "had", "has", "have", "having", "he",
    "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "no", "nor", "not", "of", "on", "or", "our",
    "ours", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "until",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours",
];

/// Lower-case words, accents folded, [`STOP_WORDS`] dropped, each reduced
/// to its stem: "Lighthouses" and "lighthouse" meet.
fn analyzer() -> TextAnalyzer {
    static STOP: LazyLock<StopWordFilter> =
        LazyLock::new(|| StopWordFilter::remove(STOP_WORDS.iter().map(|&word| word.to_owned())));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(STOP.clone())
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analysed words of `text` with their positions.
fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let token = stream.token();
        out.push((token.position, token.text.clone()));
    }
    out
}

/// `text` cut at double quotes: `(true, phrase)` inside a pair, `(false,
/// words)` outside. A quote without its pair counts as a space.
fn split_phrases(text: &str) -> Vec<(bool, &str)> {
    let pairs = text.matches('"').count() / 2;
    let mut parts = Vec::new();
    let mut rest = text;
    for _ in 0..pairs {
        let Some((before, after)) = rest.split_once('"') else {
            break;
        };
        let Some((phrase, after)) = after.split_once('"') else {
            break;
        };
        parts.push((false, before));
        parts.push((true, phrase));
        rest = after;
    }
    parts.push((false, rest));
    // A stray quote stays in the words, where the analyser drops it.
    parts.retain(|(_, part)| !part.trim().is_empty());
    parts
}

enum IndexPlace<'a> {
    Memory,
    Dir(&'a Path),
}

/// Indexes `items` in order into one segment, and finds their bodies'
/// passages meanwhile on a thread of its own.
fn create(place: IndexPlace<'_>, items: &[Item]) -> Result<(Index, Passages), SearchError> {
    let where_ = match place {
        IndexPlace::Memory => Path::new("memory"),
        IndexPlace::Dir(dir) => dir,
    };
    std::thread::scope(|scope| {
        let passages = scope.spawn(|| Passages::of(items));
        let index = index(place, where_, items)?;
        let passages = passages
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok((index, passages.map_err(|e| fail(where_, e))?))
    })
}

/// Indexes `items` in order into one segment.
fn index(place: IndexPlace<'_>, where_: &Path, items: &[Item]) -> Result<Index, SearchError> {
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let mut schema = Schema::builder();
    let fields = BOOSTS.map(|(name, _)| schema.add_text_field(name, text.clone()));
    let ord = schema.add_u64_field("ord", NumericOptions::default().set_fast());
    let tokenizers = TokenizerManager::default();
    tokenizers.register(ANALYZER, analyzer());
    let builder = Index::builder()
        .schema(schema.build())
        .tokenizers(tokenizers)
        // Documents stay in the items' order, whatever the segments.
        .settings(IndexSettings {
            sort_by_field: Some(IndexSortByField {
                field: "ord".into(),
                order: Order::Asc,
            }),
            ..IndexSettings::default()
        });
    let index = match place {
        IndexPlace::Memory => builder.create_in_ram(),
        IndexPlace::Dir(dir) => builder.create_in_dir(dir),
    }
    .map_err(|e| fail(where_, e))?;
    let mut writer: IndexWriter = index
        .writer_with_options(
            IndexWriterOptions::builder()
                .memory_budget_per_thread(INDEXING_BUFFER)
                .num_worker_threads(1)
                .num_merge_threads(1)
                .build(),
        )
        .map_err(|e| fail(where_, e))?;
    writer.set_merge_policy(Box::new(NoMergePolicy));
    for (position, item) in items.iter().enumerate() {
        let mut doc = TantivyDocument::new();
        doc.add_u64(ord, position as u64);
        doc.add_text(fields[0], &item.title);
        for tag in &item.tags {
            doc.add_text(fields[1], tag);
        }
        doc.add_text(fields[2], &item.summary);
        doc.add_text(fields[3], &item.body);
        writer.add_document(doc).map_err(|e| fail(where_, e))?;
    }
    writer.commit().map_err(|e| fail(where_, e))?;
    let segments = index
        .searchable_segment_ids()
        .map_err(|e| fail(where_, e))?;
    if segments.len() > 1 {
        writer
            .merge(&segments)
            .wait()
            .map_err(|e| fail(where_, e))?;
    }
    writer.wait_merging_threads().map_err(|e| fail(where_, e))?;
    Ok(index)
}

/// A hash of everything indexed, and of how: the cache entry's name.
fn key(items: &[Item]) -> String {
    let mut hash = Sha256::new();
    let mut field = |text: &str| {
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    };
    field(FORMAT);
    for item in items {
        field(&item.id);
        field(&item.title);
        field(&item.tags.join("\u{1f}"));
        field(&item.summary);
        field(&item.body);
    }
    let digest = hash.finalize();
    digest[..10].iter().map(|b| format!("{b:02x}")).collect()
}

fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "items".into()
    } else {
        slug.chars().take(40).collect()
    }
}

/// Removes the entries for `prefix`'s earlier items: each is as big as the
/// index, and nothing opens them again.
fn remove_stale(cache: &Path, prefix: &str, keep: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path != keep && name.starts_with(prefix) && path.is_dir() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn fail(place: &Path, problem: impl std::fmt::Display) -> SearchError {
    SearchError {
        place: place.to_owned(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, tags: &[&str], summary: &str, body: &str) -> Item {
        Item {
            id: id.into(),
            title: title.into(),
            author: None,
            tags: tags.iter().map(|t| (*t).into()).collect(),
            summary: summary.into(),
            body: body.into(),
        }
    }

    pub(super) fn sample() -> Arc<[Item]> {
        vec![
            item(
                "a",
                "How Lighthouses Work",
                &["ocean"],
                "Lamps and lenses.",
                "A lighthouse lamp turns; the keeper trims the wick.",
            ),
            item(
                "b",
                "Bread at Home",
                &["baking"],
                "Flour, water, time.",
                "Slow fermentation gives the loaf its flavour.",
            ),
            item(
                "c",
                "Harbour Lights",
                &["ocean"],
                "Small lights on the pier.",
                "The lamp on the pier is not a lighthouse lamp, strictly.",
            ),
            item("d", "Same words", &[], "Same words.", "Tide tide."),
            item("e", "Same words", &[], "Same words.", "Tide tide."),
        ]
        .into()
    }

    fn ids(index: &SearchIndex, query: &str) -> Vec<String> {
        index
            .search(query, 10)
            .expect("a query")
            .into_iter()
            .map(|f| index.items()[f.position].id.clone())
            .collect()
    }

    pub(super) fn memory() -> SearchIndex {
        SearchIndex::build("test", sample(), None)
            .expect("builds")
            .0
    }

    #[test]
    fn stems_and_boosts_rank_the_title_match_first() {
        let index = memory();
        assert_eq!(ids(&index, "lighthouses")[0], "a");
        assert_eq!(ids(&index, "fermenting bread")[0], "b");
    }

    #[test]
    fn one_typo_in_a_longer_word_is_forgiven() {
        let index = memory();
        assert_eq!(ids(&index, "lighthuose")[0], "a");
        assert_eq!(ids(&index, "fermantation"), vec!["b"]);
        // Short words are not guessed at.
        assert!(ids(&index, "tidr").is_empty());
    }

    #[test]
    fn a_quoted_phrase_must_appear_as_written() {
        let index = memory();
        assert_eq!(ids(&index, "\"keeper trims\""), vec!["a"]);
        assert!(ids(&index, "\"trims keeper\"").is_empty());
        // An unpaired quote is a space; field syntax is just words.
        assert_eq!(ids(&index, "\"lighthouse")[0], "a");
        assert_eq!(ids(&index, "title:bread")[0], "b");
    }

    #[test]
    fn ties_keep_the_items_order_and_snippets_mark_the_words() {
        let index = memory();
        assert_eq!(ids(&index, "tide"), vec!["d", "e"]);
        let found = index.search("fermentation", 1).expect("a query");
        assert!(
            found[0].snippet.contains("**fermentation**"),
            "{:?}",
            found[0]
        );
    }

    #[test]
    fn a_query_of_nothing_is_refused() {
        let index = memory();
        for query in ["", "   ", "?!.,", "\"\"", "the of and"] {
            assert_eq!(index.search(query, 5), Err(EmptyQuery), "{query:?}");
        }
        let long = "lighthouse ".repeat(1000);
        assert_eq!(ids(&index, &long)[0], "a");
    }

    #[test]
    fn a_question_is_searched_by_its_topic_words_only() {
        let index = memory();
        // Question words, pronouns and auxiliaries are not words to look for…
        assert_eq!(index.search("how do you?", 5), Err(EmptyQuery));
        assert_eq!(index.search("what would they", 5), Err(EmptyQuery));
        // …so a question ranks as its topic words do.
        let question = index
            .search("how does a lighthouse work?", 5)
            .expect("words");
        let topic = index.search("lighthouse work", 5).expect("words");
        assert_eq!(question, topic);
    }

    #[test]
    fn the_cache_is_reused_for_the_same_items_and_replaced_for_new_ones() {
        let cache = tempfile::tempdir().expect("temp dir");
        let (_, first) =
            SearchIndex::build("Reading Room", sample(), Some(cache.path())).expect("builds");
        let Origin::Built(dir) = first else {
            panic!("{first:?}")
        };
        let (again, second) =
            SearchIndex::build("Reading Room", sample(), Some(cache.path())).expect("opens");
        assert_eq!(second, Origin::Cached(dir.clone()));
        assert_eq!(ids(&again, "lighthouses")[0], "a");

        let mut changed = sample().to_vec();
        changed[1].title = "Lighthouse bread".into();
        let (_, third) =
            SearchIndex::build("Reading Room", changed.into(), Some(cache.path())).expect("builds");
        let Origin::Built(new_dir) = third else {
            panic!("{third:?}")
        };
        assert_ne!(new_dir, dir);
        assert!(!dir.exists(), "the entry for the old items is removed");
        let left: Vec<_> = fs::read_dir(cache.path()).expect("lists").collect();
        assert_eq!(left.len(), 1, "no building folders are left behind");
    }

    #[test]
    fn a_damaged_cache_entry_is_rebuilt() {
        let cache = tempfile::tempdir().expect("temp dir");
        let (_, first) = SearchIndex::build("x", sample(), Some(cache.path())).expect("builds");
        let Origin::Built(dir) = first else {
            panic!("{first:?}")
        };
        for file in fs::read_dir(&dir).expect("lists").flatten() {
            fs::write(file.path(), b"garbage").expect("overwrites");
        }
        let (index, again) =
            SearchIndex::build("x", sample(), Some(cache.path())).expect("rebuilds");
        assert_eq!(again, Origin::Built(dir));
        assert_eq!(ids(&index, "lighthouses")[0], "a");
    }

    #[test]
    fn quotes_split_into_phrases_and_words() {
        assert_eq!(
            split_phrases("a \"b c\" d"),
            vec![(false, "a "), (true, "b c"), (false, " d")]
        );
        assert_eq!(split_phrases("\"a b"), vec![(false, "\"a b")]);
        assert_eq!(split_phrases("x\"\"y"), vec![(false, "x"), (false, "y")]);
    }
}
