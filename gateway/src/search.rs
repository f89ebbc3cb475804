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

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    sync::{Arc, LazyLock},
};

use sha2::{Digest, Sha256};
use tantivy::{
    Index, IndexReader, IndexSettings, IndexSortByField, IndexWriter, Order, ReloadPolicy,
    Searcher, TantivyDocument, Term,
    collector::TopDocs,
    indexer::{IndexWriterOptions, NoMergePolicy},
    query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery},
    schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions},
    snippet::SnippetGenerator,
    tokenizer::{
        AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
        StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer, TokenizerManager,
    },
};

use crate::pack::Item;

/// Changes whenever what is indexed or how it is analysed changes, so an
/// index cached by an older build is never opened by a newer one.
const FORMAT: &str = "kit-search-2 tantivy-0.27";
const ANALYZER: &str = "kit_english";
/// How much a match in each field counts, relative to the body's.
const BOOSTS: [(&str, f32); 4] = [
    ("title", 3.0),
    ("tags", 2.0),
    ("summary", 1.5),
    ("body", 1.0),
];
/// Words at least this long are forgiven one typo when they match nothing.
const TYPO_MIN_CHARS: usize = 5;
/// At most this many words of one query are looked at for typos.
const TYPO_MAX_WORDS: usize = 8;
const SNIPPET_CHARS: usize = 160;
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
    /// Makes the one-edit automata of the typo check (built once: its
    /// tables take a while).
    typos: LevenshteinAutomatonBuilder,
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
            let index = create(IndexPlace::Memory, &items)?;
            return Ok((
                Self::open(index, items, Path::new("memory"))?,
                Origin::InMemory,
            ));
        };
        let prefix = format!("{}-", slug(name));
        let dir = cache.join(format!("{prefix}{}", key(&items)));
        if dir.is_dir() {
            match Index::open_in_dir(&dir)
                .map_err(|e| fail(&dir, e))
                .and_then(|index| Self::open(index, items.clone(), &dir))
            {
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
        let placed = built.and_then(|index| {
            drop(index);
            match fs::rename(&building, &dir) {
                Ok(()) => Ok(()),
                // Another process put the same index in place first.
                Err(_) if dir.is_dir() => Ok(()),
                Err(e) => Err(fail(&dir, e)),
            }
        });
        let _ = fs::remove_dir_all(&building);
        placed?;
        remove_stale(cache, &prefix, &dir);
        let index = Index::open_in_dir(&dir).map_err(|e| fail(&dir, e))?;
        Ok((Self::open(index, items, &dir)?, Origin::Built(dir)))
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
        let query = self.query(&searcher, query).ok_or(EmptyQuery)?;
        let top = searcher
            .search(&*query, &TopDocs::with_limit(limit).order_by_score())
            .unwrap_or_default();
        let snippets =
            [self.fields[3], self.fields[2]].map(|field| snippets(&searcher, &*query, field));
        Ok(top
            .into_iter()
            .map(|(score, address)| {
                // One segment whose documents are in the items' order.
                let position = address.doc_id as usize;
                let item = &self.items[position];
                let snippet = [&item.body, &item.summary]
                    .into_iter()
                    .zip(&snippets)
                    .find_map(|(text, generator)| {
                        let snippet = generator.snippet(text);
                        (!snippet.is_empty()).then(|| marked(&snippet))
                    })
                    .unwrap_or_default();
                Found {
                    position,
                    score,
                    snippet,
                }
            })
            .collect())
    }

    fn open(index: Index, items: Arc<[Item]>, place: &Path) -> Result<Self, SearchError> {
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
        Ok(Self {
            items,
            reader,
            fields,
            analyzer: analyzer(),
            typos: LevenshteinAutomatonBuilder::new(1, true),
        })
    }

    /// The model's words as a tantivy query: each word, stemmed, in any
    /// field (boosted by field); each quoted phrase required as a phrase.
    fn query(&self, searcher: &Searcher, text: &str) -> Option<Box<dyn Query>> {
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
                if typo_checks == TYPO_MAX_WORDS || self.known(searcher, stem) {
                    continue;
                }
                typo_checks += 1;
                if let Some(fixed) = self.one_typo_away(searcher, stem) {
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

    fn known(&self, searcher: &Searcher, stem: &str) -> bool {
        self.fields.iter().any(|&field| {
            searcher
                .doc_freq(&Term::from_field_text(field, stem))
                .is_ok_and(|n| n > 0)
        })
    }

    /// The indexed word one edit (a letter dropped, added, changed, or two
    /// swapped) from `stem` that most items use; ties go to the first in
    /// alphabetical order, so the choice is the same every time. A
    /// Levenshtein automaton walks each field's term dictionary, so the cost
    /// is a few dictionary paths, not a look-up per possible variant.
    fn one_typo_away(&self, searcher: &Searcher, stem: &str) -> Option<String> {
        let segment = searcher.segment_readers().first()?;
        let automaton = OneEdit(self.typos.build_dfa(stem));
        let mut uses: BTreeMap<String, u64> = BTreeMap::new();
        for &field in &self.fields {
            let Ok(inverted) = segment.inverted_index(field) else {
                continue;
            };
            let Ok(mut terms) = inverted.terms().search(&automaton).into_stream() else {
                continue;
            };
            while terms.advance() {
                if let Ok(word) = std::str::from_utf8(terms.key()) {
                    *uses.entry(word.to_owned()).or_default() += u64::from(terms.value().doc_freq);
                }
            }
        }
        uses.remove(stem);
        let most = uses.values().copied().max()?;
        uses.into_iter()
            .find(|(_, n)| *n == most)
            .map(|(word, _)| word)
    }
}

/// Words within one edit of a term, as an automaton over the dictionary's bytes.
struct OneEdit(levenshtein_automata::DFA);

impl tantivy_fst::Automaton for OneEdit {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
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
    english(FirstLetters::ANY)
}

/// [`analyzer`], with the words `first` rules out emptied before stemming.
fn english(first: FirstLetters) -> TextAnalyzer {
    static STOP: LazyLock<StopWordFilter> =
        LazyLock::new(|| StopWordFilter::remove(STOP_WORDS.iter().map(|&word| word.to_owned())));
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(STOP.clone())
        .filter(first)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The snippet maker for `field`'s words in `query`: the words scored as
/// tantivy's `SnippetGenerator::create` scores them (rarer is better), but
/// analysed by [`english`] with only their first letters, so that of a
/// hit's body only the words that could become one of them are stemmed.
/// Stemming every word of every hit was most of a snippet's cost.
fn snippets(searcher: &Searcher, query: &dyn Query, field: Field) -> SnippetGenerator {
    let mut words = BTreeMap::new();
    query.query_terms(&mut |term, _| {
        if term.field() == field
            && let Some(word) = term.value().as_str()
            && let Ok(uses @ 1..) = searcher.doc_freq(term)
        {
            words.insert(word.to_owned(), 1.0 / (1.0 + uses as f32));
        }
    });
    let first = FirstLetters::of(words.keys().map(String::as_str));
    SnippetGenerator::new(words, english(first), field, SNIPPET_CHARS)
}

/// The first letters of the wanted stems (ASCII only: a word that starts
/// with any other byte is always kept). Stemming keeps a word's first
/// letter, so a word whose first letter starts no wanted stem cannot become
/// one: it is emptied instead of stemmed. Emptied, not dropped: a snippet's
/// fragments are cut at word offsets, which stay as they were.
#[derive(Clone, Copy)]
struct FirstLetters(u128);

impl FirstLetters {
    const ANY: Self = Self(u128::MAX);

    fn of<'a>(stems: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            stems
                .into_iter()
                .fold(0, |letters, stem| match stem.bytes().next() {
                    Some(byte) if byte.is_ascii() => letters | 1 << byte,
                    _ => letters,
                }),
        )
    }

    fn may_become_one(self, word: &str) -> bool {
        match word.bytes().next() {
            Some(byte) if byte.is_ascii() => self.0 & (1 << byte) != 0,
            _ => true,
        }
    }
}

impl TokenFilter for FirstLetters {
    type Tokenizer<T: Tokenizer> = FirstLettersFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> FirstLettersFilter<T> {
        FirstLettersFilter { first: self, inner }
    }
}

#[derive(Clone)]
struct FirstLettersFilter<T> {
    first: FirstLetters,
    inner: T,
}

impl<T: Tokenizer> Tokenizer for FirstLettersFilter<T> {
    type TokenStream<'a> = FirstLettersStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        FirstLettersStream {
            first: self.first,
            inner: self.inner.token_stream(text),
        }
    }
}

struct FirstLettersStream<S> {
    first: FirstLetters,
    inner: S,
}

impl<S: TokenStream> TokenStream for FirstLettersStream<S> {
    fn advance(&mut self) -> bool {
        if !self.inner.advance() {
            return false;
        }
        let token = self.inner.token_mut();
        if !self.first.may_become_one(&token.text) {
            token.text.clear();
        }
        true
    }

    fn token(&self) -> &Token {
        self.inner.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.inner.token_mut()
    }
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

/// The snippet's text with its matched words in `**bold**`.
fn marked(snippet: &tantivy::snippet::Snippet) -> String {
    let text = snippet.fragment();
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for range in snippet.highlighted() {
        out.push_str(&text[at..range.start]);
        out.push_str("**");
        out.push_str(&text[range.clone()]);
        out.push_str("**");
        at = range.end;
    }
    out.push_str(&text[at..]);
    out.trim().to_owned()
}

enum IndexPlace<'a> {
    Memory,
    Dir(&'a Path),
}

/// Indexes `items` in order into one segment.
fn create(place: IndexPlace<'_>, items: &[Item]) -> Result<Index, SearchError> {
    let where_ = match place {
        IndexPlace::Memory => Path::new("memory"),
        IndexPlace::Dir(dir) => dir,
    };
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

    fn sample() -> Arc<[Item]> {
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

    fn memory() -> SearchIndex {
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
    fn snippets_are_the_ones_tantivys_own_generator_makes() {
        let index = memory();
        let searcher = index.reader.searcher();
        let body = index.fields[3];
        // Long enough for several fragments; words that stem (lamps, turning,
        // keepers), words that start with a stem's letter and do not match
        // (lantern, tower), and an accented word the items do not hold.
        let text = "The keepers trimmed the lamps every night. A lantern is not a \
                    lighthouse lamp, though both light the sea. Turning lenses threw \
                    the beam far out; the tower stood on rock. Élan and weather wore \
                    the keepers down, and the lamps turned until electric light came.";
        for words in [
            "lamp keeper",
            "turning lights",
            "élan",
            "tower sea rock",
            "tide",
        ] {
            let query = index.query(&searcher, words).expect("words");
            let theirs = SnippetGenerator::create(&searcher, &*query, body).map(|mut generator| {
                generator.set_max_num_chars(SNIPPET_CHARS);
                generator.snippet(text)
            });
            let ours = snippets(&searcher, &*query, body).snippet(text);
            let theirs = theirs.expect("tantivy's generator");
            assert_eq!(ours.fragment(), theirs.fragment(), "{words:?}");
            assert_eq!(ours.highlighted(), theirs.highlighted(), "{words:?}");
        }
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
