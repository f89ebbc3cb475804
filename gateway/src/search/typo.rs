//! One typo forgiven: the indexed word one edit from a word that matches
//! nothing.
//!
//! Every word of every field is gathered once, when the index is opened,
//! into one dictionary with how often each is used. A Levenshtein automaton
//! walks it, so a look-up costs a few dictionary paths, not one look-up per
//! possible variant, and one walk instead of one per field (four walks were
//! a tenth of a search's time where queries hold typos).

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::{SegmentReader, schema::Field};
use tantivy_fst::{Automaton, IntoStreamer, Map, Streamer};

/// The index's words, in every field, for typo look-ups.
pub(super) struct Dictionary {
    /// Each word, with the sum over fields of the items that use it there.
    uses: Map<Vec<u8>>,
    /// Makes the one-edit automata (built once: its tables take a while).
    typos: LevenshteinAutomatonBuilder,
}

impl Dictionary {
    /// The words of `fields` in `segment`.
    pub(super) fn of(segment: &SegmentReader, fields: &[Field]) -> tantivy::Result<Self> {
        let mut words: Vec<(Vec<u8>, u64)> = Vec::new();
        for &field in fields {
            let inverted = segment.inverted_index(field)?;
            let mut terms = inverted.terms().stream()?;
            while terms.advance() {
                words.push((terms.key().to_vec(), u64::from(terms.value().doc_freq)));
            }
        }
        words.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        words.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
        let uses = Map::from_iter(words).map_err(|e| {
            tantivy::TantivyError::InternalError(format!("the typo dictionary: {e}"))
        })?;
        Ok(Self {
            uses,
            typos: LevenshteinAutomatonBuilder::new(1, true),
        })
    }

    /// Whether some item uses `stem`, in any field.
    pub(super) fn knows(&self, stem: &str) -> bool {
        self.uses.contains_key(stem)
    }

    /// The indexed word one edit (a letter dropped, added, changed, or two
    /// swapped) from `stem` that most items use; ties go to the first in
    /// alphabetical order, so the choice is the same every time.
    pub(super) fn one_edit_from(&self, stem: &str) -> Option<String> {
        let mut words = self
            .uses
            .search(OneEdit(self.typos.build_dfa(stem)))
            .into_stream();
        let mut best: Option<(Vec<u8>, u64)> = None;
        while let Some((word, uses)) = words.next() {
            // In alphabetical order: a later word must be used more to win.
            if word != stem.as_bytes() && best.as_ref().is_none_or(|(_, most)| uses > *most) {
                best = Some((word.to_vec(), uses));
            }
        }
        best.and_then(|(word, _)| String::from_utf8(word).ok())
    }
}

/// Words within one edit of a term, as an automaton over the dictionary's bytes.
struct OneEdit(DFA);

impl Automaton for OneEdit {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, path::Path};

    use crate::{pack::DomainPack, search::SearchIndex};

    /// Whether `a` becomes `b` by one edit: a letter dropped, added or
    /// changed, or two neighbours swapped (ASCII words).
    fn one_edit(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        match long.len() - short.len() {
            0 => {
                let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
                match differ.as_slice() {
                    [_] => true,
                    [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
                    _ => false,
                }
            }
            1 => (0..long.len()).any(|i| [&long[..i], &long[i + 1..]].concat() == short),
            _ => false,
        }
    }

    #[test]
    fn the_fix_is_the_most_used_word_one_edit_away_in_any_field() {
        let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
        let pack = DomainPack::load(&seed).expect("the Reading Room");
        let (index, _) = SearchIndex::build("seed", pack.shared_items(), None).expect("builds");
        let searcher = index.reader.searcher();
        let segment = &searcher.segment_readers()[0];
        // Every word of every field with its uses, gathered field by field.
        let mut uses: BTreeMap<String, u64> = BTreeMap::new();
        for &field in &index.fields {
            let inverted = segment.inverted_index(field).expect("field");
            let mut terms = inverted.terms().stream().expect("terms");
            while terms.advance() {
                let word = String::from_utf8(terms.key().to_vec()).expect("UTF-8");
                *uses.entry(word).or_default() += u64::from(terms.value().doc_freq);
            }
        }
        let dictionary = &index.dictionary;
        let (mut fixed, mut checked) = (0, 0);
        for word in uses.keys().filter(|w| w.len() >= 5 && w.is_ascii()) {
            let b = word.as_bytes();
            let dropped = [&b[..1], &b[2..]].concat();
            let swapped = [&b[..1], &b[2..3], &b[1..2], &b[3..]].concat();
            let changed = [&b[..2], b"q", &b[3..]].concat();
            for typo in [dropped, swapped, changed] {
                let typo = String::from_utf8(typo).expect("ASCII");
                assert_eq!(dictionary.knows(&typo), uses.contains_key(&typo), "{typo}");
                // The first most used wins: `max_by_key` would keep the last.
                let expected = uses
                    .iter()
                    .filter(|(w, _)| **w != typo && one_edit(&typo, w))
                    .fold(None, |best: Option<(&String, u64)>, (w, &n)| match best {
                        Some((_, most)) if n <= most => best,
                        _ => Some((w, n)),
                    })
                    .map(|(w, _)| w.clone());
                let ours = dictionary.one_edit_from(&typo);
                assert_eq!(ours, expected, "{typo}");
                checked += 1;
                fixed += usize::from(ours.is_some());
            }
        }
        assert!(
            checked > 1000 && fixed > 500,
            "{checked} checked, {fixed} fixed"
        );
    }
}
