//! A hit's snippet: the passage of its text where the query's words weigh
//! most, those words in `**bold**`.
//!
//! The passage is the one tantivy's `SnippetGenerator` picks (a test holds
//! the two equal over the Reading Room and its judged queries), found with
//! less work. Tantivy runs the field's analyser (lower-casing, folding, stop
//! words, stemming) on every word of the text to find the query's words in
//! it. The index already knows where they are: the positions of each word
//! in each item, which are the places of the words in the text as the plain
//! tokenizer splits it. So the text is only split into words, and a word
//! only looked up in the stop words, which the analyser drops (a dropped
//! word does not move where a passage may end; any other word does).

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

/// A candidate passage, as tantivy's `FragmentCandidate`.
struct Passage {
    score: f32,
    start: usize,
    stop: usize,
    marks: Vec<Range<usize>>,
}

impl Passage {
    fn at(start: usize) -> Self {
        Self {
            score: 0.0,
            start,
            stop: start,
            marks: Vec::new(),
        }
    }
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
    /// The best passage scores most; of equals, the first.
    pub(super) fn snippet(&mut self, doc: DocId, text: &str) -> String {
        let Some(matches) = self.matches.get(&doc) else {
            return String::new();
        };
        let mut matches = matches.iter().peekable();
        let mut best: Option<Passage> = None;
        let mut passage = Passage::at(0);
        let mut keep = |passage: Passage| {
            if passage.score > 0.0 && best.as_ref().is_none_or(|b| passage.score > b.score) {
                best = Some(passage);
            }
        };
        for (position, word) in words(text).enumerate() {
            if dropped(&mut self.analyzer, &text[word.clone()]) {
                continue;
            }
            if word.end - passage.start > MAX_CHARS {
                let ended = std::mem::replace(&mut passage, Passage::at(word.start));
                keep(ended);
                if matches.peek().is_none() {
                    // Every later passage would score nothing.
                    break;
                }
            }
            passage.stop = word.end;
            while let Some(&&(at, weight)) = matches.peek() {
                if at as usize > position {
                    break;
                }
                matches.next();
                if at as usize == position {
                    passage.score += weight;
                    passage.marks.push(word.clone());
                }
            }
        }
        keep(passage);
        best.map(|best| marked(text, &best)).unwrap_or_default()
    }
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

    /// What tantivy's own generator makes of `text`, marked as ours is.
    fn theirs(searcher: &Searcher, query: &dyn Query, field: Field, text: &str) -> String {
        let mut generator =
            SnippetGenerator::create(searcher, query, field).expect("tantivy's generator");
        generator.set_max_num_chars(MAX_CHARS);
        let snippet = generator.snippet(text);
        let passage = Passage {
            score: 0.0,
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
            let ours = Snippets::new(&searcher, &*query, body, &[0]).snippet(0, text);
            assert_eq!(ours, theirs(&searcher, &*query, body, text), "{words:?}");
        }
        let query = index.query("lamp").expect("words");
        let mut ours = Snippets::new(&searcher, &*query, body, &[0, 1]);
        assert!(
            ours.snippet(0, text).contains("**lamps**"),
            "a match is marked"
        );
        assert_eq!(
            ours.snippet(1, &index.items()[1].body),
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
                    let snippet = ours.snippet(doc, text);
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
