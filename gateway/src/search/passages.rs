//! Where the passages of every item's body start: worked out once, when the
//! index is built, and kept beside it in the cache.
//!
//! A snippet shows the passage of a hit's body where the query's words weigh
//! most. Where the passages start depends on the body alone, but finding them
//! means splitting the whole text into words (a quarter of a search's
//! instructions at 100,000 items when it was done per hit). Kept here, a
//! snippet only sums its matches by passage and splits the one passage it
//! shows.
//!
//! 8 bytes per passage of up to 160 bytes: about 8 MB for 170 MB of text.

use std::{
    fs,
    io::{self, Read, Write},
    path::Path,
};

use super::snippet::{Start, starts};
use crate::pack::Item;

/// The file in an index's folder that holds its passages.
const FILE: &str = "passages.bin";
/// The file's first bytes, changed whenever its layout changes.
const MAGIC: &[u8; 16] = b"kit-passages-v1\n";

/// Where each item's body's passages start.
pub(super) struct Passages {
    /// Item `i`'s passages are `starts[first[i]..first[i + 1]]`.
    first: Vec<u32>,
    starts: Vec<Start>,
}

impl Passages {
    /// The passages of every item's body, in the items' order.
    pub(super) fn of(items: &[Item]) -> Result<Self, String> {
        let mut analyzer = super::analyzer();
        let mut first = Vec::with_capacity(items.len() + 1);
        let mut all = Vec::with_capacity(items.len());
        for item in items {
            first.push(count(&all)?);
            starts(&item.body, &mut analyzer, &mut all)
                .ok_or_else(|| format!("item {:?} has a body of 4 GiB or more", item.id))?;
        }
        first.push(count(&all)?);
        all.shrink_to_fit();
        Ok(Self { first, starts: all })
    }

    /// Item `position`'s passages; none for a position past the items.
    pub(super) fn of_item(&self, position: usize) -> &[Start] {
        match (self.first.get(position), self.first.get(position + 1)) {
            (Some(&from), Some(&to)) => &self.starts[from as usize..to as usize],
            _ => &[],
        }
    }

    /// Keeps them in the index's folder `dir`.
    pub(super) fn write(&self, dir: &Path) -> io::Result<()> {
        let mut out = io::BufWriter::new(fs::File::create(dir.join(FILE))?);
        out.write_all(MAGIC)?;
        out.write_all(&(self.first.len() as u64).to_le_bytes())?;
        out.write_all(&(self.starts.len() as u64).to_le_bytes())?;
        for at in &self.first {
            out.write_all(&at.to_le_bytes())?;
        }
        for start in &self.starts {
            out.write_all(&start.byte.to_le_bytes())?;
            out.write_all(&start.position.to_le_bytes())?;
        }
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()
    }

    /// The passages kept in `dir` for `items`, checked to be passages of
    /// these items' bodies: a damaged file is refused, never trusted. Read
    /// through a small buffer, so the table is the only copy in memory.
    pub(super) fn read(dir: &Path, items: &[Item]) -> Result<Self, String> {
        // The caller names the index's folder; these name the file in it.
        let path = dir.join(FILE);
        let failed = |e: io::Error| format!("{FILE}: {e}");
        let damaged = |what: &str| format!("{FILE} is damaged: {what}");
        let file = fs::File::open(&path).map_err(failed)?;
        let length = file.metadata().map_err(failed)?.len();
        let mut file = io::BufReader::new(file);
        let mut magic = [0; MAGIC.len()];
        let mut counts = [0; 16];
        file.read_exact(&mut magic)
            .and_then(|()| file.read_exact(&mut counts))
            .map_err(|_| damaged("cut short"))?;
        if &magic != MAGIC {
            return Err(damaged("not a passages file of this version"));
        }
        let firsts = u64::from_le_bytes(counts[..8].try_into().expect("8 bytes"));
        let passages = u64::from_le_bytes(counts[8..].try_into().expect("8 bytes"));
        if firsts != items.len() as u64 + 1 {
            return Err(damaged("made for another number of items"));
        }
        let expected = (MAGIC.len() as u64 + 16)
            .checked_add(4 * firsts)
            .and_then(|header| passages.checked_mul(8)?.checked_add(header));
        if expected != Some(length) {
            return Err(damaged("not as long as its counts say"));
        }
        let mut word = || -> Result<u32, String> {
            let mut bytes = [0; 4];
            file.read_exact(&mut bytes).map_err(failed)?;
            Ok(u32::from_le_bytes(bytes))
        };
        // Both counts are bounded by the file's length, checked above.
        let mut first = Vec::with_capacity(firsts as usize);
        for _ in 0..firsts {
            first.push(word()?);
        }
        let mut starts = Vec::with_capacity(passages as usize);
        for _ in 0..passages {
            let (byte, position) = (word()?, word()?);
            starts.push(Start { byte, position });
        }
        let passages = Self { first, starts };
        passages.check(items).map_err(damaged)?;
        Ok(passages)
    }

    /// Whether these could be `items`' bodies' passages: each body's begin
    /// at its start and move forward within it. (A start inside a character
    /// is not looked for here, which would read every body: a snippet takes
    /// the text from a start with `str::get`, so it shows nothing there.)
    fn check(&self, items: &[Item]) -> Result<(), &'static str> {
        if self.first.first() != Some(&0) || self.first.last() != Some(&count(&self.starts)?) {
            return Err("its items do not cover its passages");
        }
        if self.first.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err("an item without passages");
        }
        for (position, item) in items.iter().enumerate() {
            let passages = self.of_item(position);
            if passages[0] != Start::BEGINNING {
                return Err("a body whose first passage is not at its start");
            }
            let forward = passages
                .windows(2)
                .all(|pair| pair[0].byte < pair[1].byte && pair[0].position < pair[1].position);
            let inside = passages
                .last()
                .is_some_and(|last| last.byte as usize <= item.body.len());
            if !forward || !inside {
                return Err("a passage that is not in its body");
            }
        }
        Ok(())
    }
}

/// How many passages `starts` holds, as the table counts them.
fn count(starts: &[Start]) -> Result<u32, &'static str> {
    u32::try_from(starts.len()).map_err(|_| "more than 4 billion passages")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::tests::sample;

    #[test]
    fn kept_passages_are_read_back_and_damaged_ones_refused() {
        let mut items = sample().to_vec();
        items[0].body = "The keepers trimmed the lamps every night. ".repeat(12);
        let passages = Passages::of(&items).expect("passages");
        assert!(passages.of_item(0).len() > 2, "a long body has several");
        assert_eq!(passages.of_item(1).len(), 1, "a short body has one");
        assert!(passages.of_item(items.len()).is_empty());

        let dir = tempfile::tempdir().expect("temp dir");
        passages.write(dir.path()).expect("writes");
        let again = Passages::read(dir.path(), &items).expect("reads");
        assert_eq!(
            (again.first, again.starts),
            (passages.first, passages.starts)
        );

        let file = dir.path().join(FILE);
        let good = fs::read(&file).expect("reads");
        let mut fewer = items.clone();
        fewer.pop();
        let refused = Passages::read(dir.path(), &fewer).err().expect("refused");
        assert!(refused.contains("another number of items"), "{refused}");

        // Passages past the end of their body, one moved back, one cut off.
        let mut shorter = items.clone();
        shorter[0].body.truncate(100);
        let refused = Passages::read(dir.path(), &shorter).err().expect("refused");
        assert!(refused.contains("not in its body"), "{refused}");
        let mut moved = good.clone();
        let third = MAGIC.len() + 16 + 4 * (items.len() + 1) + 2 * 8;
        moved[third..third + 4].copy_from_slice(&1_u32.to_le_bytes());
        fs::write(&file, &moved).expect("writes");
        let refused = Passages::read(dir.path(), &items).err().expect("refused");
        assert!(refused.contains("not in its body"), "{refused}");
        fs::write(&file, &good[..good.len() - 3]).expect("writes");
        let refused = Passages::read(dir.path(), &items).err().expect("refused");
        assert!(refused.contains("not as long"), "{refused}");
        fs::write(&file, b"garbage").expect("writes");
        assert!(Passages::read(dir.path(), &items).is_err());
    }
}
