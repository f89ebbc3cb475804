//! A hit's snippet: the passage of its text where the query's words weigh
//! most, those words in `**bold**`.
//!
//! The passage is the one tantivy's `SnippetGenerator` picks (a test holds
//! the two equal over the Reading Room and its judged queries), found with
//! less work. Tantivy cuts the text into passages of at most [`MAX_CHARS`]
//! bytes and runs the field's analyser (lower-casing, folding, stop words,
//! stemming) on every word to find the query's words in it. But where the
//! passages start depends on the text alone, not on the query: it is worked
//! out once per item when the index is built ([`starts`], kept in
//! `passages.rs`). And the index already knows where the query's words are:
//! their positions in each item. So a snippet sums each passage's matches
//! from the positions, and splits into words only the one passage it shows.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Range,
    sync::LazyLock,
};

use tantivy::{
    DocId, DocSet, Searcher,
    postings::Postings,
    query::Query,
    schema::{Field, IndexRecordOption},
    tokenizer::{TextAnalyzer, TokenStream},
};

use super::{STOP_WORDS, analyzer};

/// At most this many bytes of text in a snippet, as tantivy counts them.
const MAX_CHARS: usize = 160;
/// Words this long or longer are dropped by the analyser.
const LONGEST_WORD: usize = 40;

/// Makes the snippets of one query's hits in one field.
pub(super) struct Snippets {
    /// Each hit's matched words, by document: their positions in the text
    /// and weights, in order of position.
    matches: BTreeMap<DocId, Vec<(u32, f32)>>,
    analyzer: TextAnalyzer,
}

/// Where a passage of a text begins: the byte its first word starts at,
/// and that word's position (its place among the text's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Start {
    pub(super) byte: u32,
    pub(super) position: u32,
}

impl Start {
    /// Where every text's first passage begins.
    pub(super) const BEGINNING: Self = Self {
        byte: 0,
        position: 0,
    };
}

/// The passage shown: its bytes, and the query's words in it.
struct Passage {
    start: usize,
    stop: usize,
    marks: Vec<Range<usize>>,
}

impl Snippets {
    /// For `query`'s words in `field`, in the documents `hits`. A word is
    /// weighed as tantivy weighs it: the rarer, the more.
    pub(super) fn new(
        searcher: &Searcher,
        query: &dyn Query,
        field: Field,
        hits: &[DocId],
    ) -> Self {
        let mut words = BTreeSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                words.insert(term.clone());
            }
        });
        let mut hits = hits.to_vec();
        hits.sort_unstable();
        let mut matches: BTreeMap<DocId, Vec<(u32, f32)>> = BTreeMap::new();
        let mut positions = Vec::new();
        // One segment (the index is built so).
        let segment = searcher.segment_readers().first();
        if let Some(inverted) = segment.and_then(|segment| segment.inverted_index(field).ok()) {
            for term in &words {
                let (Ok(Some(mut postings)), Ok(uses)) = (
                    inverted.read_postings(term, IndexRecordOption::WithFreqsAndPositions),
                    searcher.doc_freq(term),
                ) else {
                    continue;
                };
                let weight = 1.0 / (1.0 + uses as f32);
                for &doc in &hits {
                    if postings.doc() <= doc && postings.seek(doc) == doc {
                        postings.positions(&mut positions);
                        let found = matches.entry(doc).or_default();
                        found.extend(positions.iter().map(|&at| (at, weight)));
                    }
                }
            }
        }
        for found in matches.values_mut() {
            found.sort_unstable_by_key(|&(at, _)| at);
        }
        Self {
            matches,
            analyzer: analyzer(),
        }
    }

    /// The best passage of `text`, hit `doc`'s text in the field, with the
    /// query's words marked, trimmed; empty when none of them is in it.
    /// `starts` are the text's passages ([`starts`]). The best passage
    /// scores most (its matches' weights summed in order, as tantivy sums
    /// them); of equals, the first.
    pub(super) fn snippet(&mut self, doc: DocId, text: &str, starts: &[Start]) -> String {
        let Some(matches) = self.matches.get(&doc) else {
            return String::new();
        };
        let mut unscored = matches.as_slice();
        let mut best: Option<(Start, f32)> = None;
        for (k, &start) in starts.iter().enumerate() {
            let next = starts.get(k + 1).map_or(u32::MAX, |next| next.position);
            let inside = unscored.partition_point(|&(at, _)| at < next);
            let score: f32 = unscored[..inside].iter().map(|&(_, weight)| weight).sum();
            unscored = &unscored[inside..];
            if score > 0.0 && best.is_none_or(|(_, most)| score > most) {
                best = Some((start, score));
            }
            if unscored.is_empty() {
                // Every later passage would score nothing.
                break;
            }
        }
        let Some((start, _)) = best else {
            return String::new();
        };
        passage(&mut self.analyzer, text, start, matches)
            .map(|passage| marked(text, &passage))
            .unwrap_or_default()
    }
}

/// The passage of `text` that begins at `start`, its words that are
/// among `matches` marked; `None` if `start` is not in `text`.
fn passage(
    analyzer: &mut TextAnalyzer,
    text: &str,
    start: Start,
    matches: &[(u32, f32)],
) -> Option<Passage> {
    let from = start.byte as usize;
    let rest = text.get(from..)?;
    let mut passage = Passage {
        start: from,
        stop: from,
        marks: Vec::new(),
    };
    let mut wanted = matches
        .iter()
        .map(|&(at, _)| at)
        .skip_while(|&at| at < start.position)
        .peekable();
    for (i, word) in kept_words(analyzer, rest) {
        let word = from + word.start..from + word.end;
        if word.end - from > MAX_CHARS {
            break;
        }
        passage.stop = word.end;
        let position = start.position as usize + i;
        while let Some(&at) = wanted.peek() {
            if at as usize > position {
                break;
            }
            wanted.next();
            if at as usize == position {
                passage.marks.push(word.clone());
            }
        }
    }
    Some(passage)
}

/// Where `text`'s passages start, as tantivy's generator cuts a text: the
/// first at its beginning; a passage takes words until one would end more
/// than [`MAX_CHARS`] bytes after the passage's start, and that word starts
/// the next. Words the analyser drops count neither way. `None` for a text
/// of 4 GiB or more.
pub(super) fn starts(text: &str, analyzer: &mut TextAnalyzer, out: &mut Vec<Start>) -> Option<()> {
    u32::try_from(text.len()).ok()?;
    // Both fit in a u32: neither a byte nor a word's place passes the length.
    let start = |byte: usize, position: usize| Start {
        byte: byte as u32,
        position: position as u32,
    };
    let mut from = 0;
    out.push(Start::BEGINNING);
    for (position, word) in kept_words(analyzer, text) {
        if word.end - from > MAX_CHARS {
            from = word.start;
            out.push(start(word.start, position));
        }
    }
    Some(())
}

/// The words of `text` the analyser keeps, each with its position (a
/// dropped word still takes its place).
fn kept_words<'a>(
    analyzer: &'a mut TextAnalyzer,
    text: &'a str,
) -> impl Iterator<Item = (usize, Range<usize>)> + 'a {
    words(text)
        .enumerate()
        .filter(move |(_, word)| !dropped(analyzer, &text[word.clone()]))
}

/// The words of `text` as tantivy's `SimpleTokenizer` splits it (runs of
/// alphanumeric characters; a word's position is its place in this order),
/// as byte ranges: without copying each into a token as the tokenizer does,
/// and with ASCII bytes classified without decoding them.
fn words(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let bytes = text.as_bytes();
    // Whether the character at `at` is alphanumeric, and its length.
    let class = move |at: usize| match bytes[at] {
        byte @ ..0x80 => (byte.is_ascii_alphanumeric(), 1),
        _ => text[at..]
            .chars()
            .next()
            .map_or((false, 1), |c| (c.is_alphanumeric(), c.len_utf8())),
    };
    let mut at = 0;
    std::iter::from_fn(move || {
        let mut start = None;
        while at < bytes.len() {
            let (alphanumeric, len) = class(at);
            match (alphanumeric, start) {
                (true, None) => start = Some(at),
                (false, Some(start)) => return Some(start..at),
                _ => {}
            }
            at += len;
        }
        start.map(|start| start..at)
    })
}

/// Whether the analyser drops `word` (one word as the plain tokenizer
/// splits a text): a stop word, or too long.
fn dropped(analyzer: &mut TextAnalyzer, word: &str) -> bool {
    let bytes = word.as_bytes();
    if bytes.len() >= LONGEST_WORD {
        return true;
    }
    if bytes.is_ascii() {
        // Lower-cased as the analyser would (folding leaves ASCII as it is).
        return bytes.len() <= 8 && STOP.binary_search(&packed(bytes)).is_ok();
    }
    let mut stream = analyzer.token_stream(word);
    !stream.advance()
}

/// The stop words, each packed in a `u64`, sorted.
static STOP: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut packed: Vec<u64> = STOP_WORDS
        .iter()
        .map(|word| {
            assert!(word.len() <= 8, "{word} is longer than 8 bytes");
            packed(word.as_bytes())
        })
        .collect();
    packed.sort_unstable();
    packed
});

/// Up to 8 ASCII bytes, lower-cased, as one number.
fn packed(word: &[u8]) -> u64 {
    word.iter().enumerate().fold(0, |packed, (i, byte)| {
        packed | u64::from(byte.to_ascii_lowercase()) << (8 * i)
    })
}

/// `passage` of `text`, its marks in `**bold**`, trimmed.
fn marked(text: &str, passage: &Passage) -> String {
    let mut out = String::with_capacity(passage.stop - passage.start + 4 * passage.marks.len());
    let mut at = passage.start;
    for mark in &passage.marks {
        out.push_str(&text[at..mark.start]);
        out.push_str("**");
        out.push_str(&text[mark.clone()]);
        out.push_str("**");
        at = mark.end;
    }
    out.push_str(&text[at..passage.stop]);
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tantivy::snippet::SnippetGenerator;

    use super::*;
    use crate::{
        pack::{DomainPack, Item},
        search::{SearchIndex, tests::sample},
    };

    /// Where an item keeps a field's text.
    type TextOf = fn(&Item) -> &str;

    /// `text`'s passages.
    fn cut(text: &str) -> Vec<Start> {
        let mut out = Vec::new();
        starts(text, &mut analyzer(), &mut out).expect("a short text");
        out
    }

    /// What tantivy's own generator makes of `text`, marked as ours is.
    fn theirs(searcher: &Searcher, query: &dyn Query, field: Field, text: &str) -> String {
        let mut generator =
            SnippetGenerator::create(searcher, query, field).expect("tantivy's generator");
        generator.set_max_num_chars(MAX_CHARS);
        let snippet = generator.snippet(text);
        let passage = Passage {
            start: 0,
            stop: snippet.fragment().len(),
            marks: snippet.highlighted().to_vec(),
        };
        marked(snippet.fragment(), &passage)
    }

    #[test]
    fn the_passage_is_the_one_tantivys_own_generator_picks() {
        // Long enough for several passages; words that stem (lamps, turning,
        // keepers), words that start with a stem's letter and do not match
        // (lantern, tower), stop words in capitals, accented words, and a
        // word too long to index.
        let text = "The keepers trimmed the lamps every night. A lantern is not a \
                    lighthouse lamp, though both light the sea. Turning lenses threw \
                    the beam far out; THE tower stood on rock. Élan and weather wore \
                    the keepers down, and the lamps turned until electric light came. \
                    Pneumonoultramicroscopicsilicovolcanoconiosis lamps. Über élan.";
        let mut items = sample().to_vec();
        items[0].body = text.into();
        let (index, _) = SearchIndex::build("test", items.into(), None).expect("builds");
        let searcher = index.reader.searcher();
        let body = index.fields[3];
        for words in [
            "lamp keeper",
            "turning lights",
            "élan",
            "tower sea rock",
            "uber elan",
            "tide",
        ] {
            let query = index.query(words).expect("words");
            let ours = Snippets::new(&searcher, &*query, body, &[0]).snippet(0, text, &cut(text));
            assert_eq!(ours, theirs(&searcher, &*query, body, text), "{words:?}");
        }
        let query = index.query("lamp").expect("words");
        let mut ours = Snippets::new(&searcher, &*query, body, &[0, 1]);
        assert!(
            ours.snippet(0, text, &cut(text)).contains("**lamps**"),
            "a match is marked"
        );
        assert_eq!(
            ours.snippet(1, &index.items()[1].body, &cut(&index.items()[1].body)),
            "",
            "no match, no snippet"
        );
    }

    #[test]
    fn every_judged_query_gets_tantivys_snippet_of_every_reading_room_article() {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
        let pack = DomainPack::load(&seed).expect("the Reading Room");
        let (index, _) = SearchIndex::build("seed", pack.shared_items(), None).expect("builds");
        let judged: Vec<serde_json::Value> = serde_json::from_str(
            &std::fs::read_to_string(seed.join("judged-queries.json")).expect("judged queries"),
        )
        .expect("JSON");
        let searcher = index.reader.searcher();
        let mut marked_words = 0;
        for entry in &judged {
            let words = entry["query"].as_str().expect("a query");
            let query = index.query(words).expect("words");
            let texts: [(Field, TextOf); 2] = [
                (index.fields[3], |item| &item.body),
                (index.fields[2], |item| &item.summary),
            ];
            for (field, text_of) in texts {
                let docs: Vec<DocId> = (0..index.items().len() as DocId).collect();
                let mut ours = Snippets::new(&searcher, &*query, field, &docs);
                for (doc, item) in docs.into_iter().zip(index.items()) {
                    let text = text_of(item);
                    // The body's passages as the index keeps them.
                    let starts = if field == index.fields[3] {
                        index.passages.of_item(doc as usize).to_vec()
                    } else {
                        cut(text)
                    };
                    let snippet = ours.snippet(doc, text, &starts);
                    assert_eq!(
                        snippet,
                        theirs(&searcher, &*query, field, text),
                        "{words:?} in {}",
                        item.id
                    );
                    marked_words += snippet.matches("**").count() / 2;
                }
            }
        }
        assert!(marked_words > 300, "only {marked_words} marked words");
    }

    #[test]
    fn a_start_that_is_not_in_the_text_shows_nothing() {
        let start = |byte| Start { byte, position: 0 };
        let mut analyzer = analyzer();
        let shown = passage(&mut analyzer, "élan lamps", start(0), &[(0, 1.0)]);
        let shown = shown.map(|passage| marked("élan lamps", &passage));
        assert_eq!(shown.as_deref(), Some("**élan** lamps"));
        // Inside `é`, and past the end: a damaged table, never a panic.
        assert!(passage(&mut analyzer, "élan lamps", start(1), &[(0, 1.0)]).is_none());
        assert!(passage(&mut analyzer, "élan lamps", start(99), &[(0, 1.0)]).is_none());
    }

    #[test]
    fn words_are_split_as_tantivys_plain_tokenizer_splits_them() {
        use tantivy::tokenizer::{SimpleTokenizer, Tokenizer};

        let text = "  Élan, it's 3.14 — naïve façade_x ΑΒΓ δ日本語!end ²³ x\u{300}y";
        let mut tokenizer = SimpleTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut theirs = Vec::new();
        while stream.advance() {
            let token = stream.token();
            theirs.push(token.offset_from..token.offset_to);
        }
        assert_eq!(words(text).collect::<Vec<_>>(), theirs);
        assert!(theirs.len() > 8);
    }
}
