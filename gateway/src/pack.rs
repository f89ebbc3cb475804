//! The domain pack: the data that makes the skeleton one particular app.
//!
//! A pack is a folder with `pack.json` naming the app and its files: a JSON
//! list of items, the rules the model must follow and the persona it speaks
//! in. Loading checks everything once, so a malformed pack stops start-up
//! with the file and the problem named, never half-way through a session.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest `Rules:` summary line, since it is repeated under every tool result.
const MAX_REMINDER_CHARS: usize = 240;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: String,
    item_noun: String,
    /// The catalog; an app whose records live in its own tables has none.
    #[serde(default)]
    items: Option<String>,
    rules: String,
    persona: String,
}

/// One catalog entry (an article in the Reading Room, a lesson in the tutor).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub summary: String,
    pub body: String,
}

/// A loaded, checked domain pack.
#[derive(Debug)]
pub struct DomainPack {
    pub name: String,
    pub item_noun: String,
    pub rules: String,
    pub persona: String,
    /// Read through [`Self::reminder`]: it is written as JSON once, below,
    /// so it may not change after loading.
    reminder: String,
    /// The reminder as a JSON string, written once for every result.
    reminder_json: String,
    items: Arc<[Item]>,
    by_id: HashMap<String, usize>,
    written: WrittenItems,
}

/// Why a pack could not be loaded: always names the file.
#[derive(Debug, thiserror::Error)]
#[error("domain pack {}: {problem}", file.display())]
pub struct PackError {
    pub file: PathBuf,
    pub problem: String,
}

fn fail(file: &Path, problem: impl Into<String>) -> PackError {
    PackError {
        file: file.to_owned(),
        problem: problem.into(),
    }
}

fn read(file: &Path) -> Result<String, PackError> {
    fs::read_to_string(file).map_err(|e| fail(file, format!("cannot be read: {e}")))
}

impl DomainPack {
    /// Loads and checks the pack in `dir`.
    pub fn load(dir: &Path) -> Result<Self, PackError> {
        let manifest_path = dir.join("pack.json");
        let manifest: Manifest = serde_json::from_str(&read(&manifest_path)?)
            .map_err(|e| fail(&manifest_path, e.to_string()))?;
        for (field, value) in [("name", &manifest.name), ("item_noun", &manifest.item_noun)] {
            if value.trim().is_empty() {
                return Err(fail(&manifest_path, format!("`{field}` is empty")));
            }
        }
        let file = |name: &str| -> Result<PathBuf, PackError> {
            // Pack files stay inside the pack: no absolute paths, no `..`.
            let rel = Path::new(name);
            if name.is_empty()
                || rel.is_absolute()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(fail(
                    &manifest_path,
                    format!("`{name}` must be a file inside the pack"),
                ));
            }
            Ok(dir.join(rel))
        };

        let (items, by_id) = match &manifest.items {
            Some(name) => {
                let items_path = file(name)?;
                let items: Vec<Item> = serde_json::from_str(&read(&items_path)?)
                    .map_err(|e| fail(&items_path, e.to_string()))?;
                let by_id = check_items(&items).map_err(|problem| fail(&items_path, problem))?;
                (items, by_id)
            }
            None => (Vec::new(), HashMap::new()),
        };

        let rules_path = file(&manifest.rules)?;
        let rules = read(&rules_path)?;
        let reminder = reminder_line(&rules).map_err(|problem| fail(&rules_path, problem))?;

        let persona_path = file(&manifest.persona)?;
        let persona = read(&persona_path)?;
        if persona.trim().is_empty() {
            return Err(fail(&persona_path, "is empty"));
        }

        Ok(Self {
            name: manifest.name,
            item_noun: manifest.item_noun,
            rules,
            persona,
            reminder_json: serde_json::to_string(&reminder).expect("a string always serialises"),
            reminder,
            written: WrittenItems::new(WRITTEN_ITEMS_BUDGET),
            items: items.into(),
            by_id,
        })
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.position(id).map(|i| &self.items[i])
    }

    /// Where the item `id` is in [`Self::items`].
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The items, shared (with the search index built over them).
    pub fn shared_items(&self) -> Arc<[Item]> {
        self.items.clone()
    }

    /// The one-line `Rules:` summary carried by every gated result.
    ///
    /// ```
    /// # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
    /// let pack = gateway::pack::DomainPack::load(&dir)?;
    /// assert!(pack.reminder().starts_with("Rules:"));
    /// # Ok::<(), gateway::pack::PackError>(())
    /// ```
    pub fn reminder(&self) -> &str {
        &self.reminder
    }

    /// The reminder as a JSON string (quoted and escaped).
    pub(crate) fn reminder_json(&self) -> &str {
        &self.reminder_json
    }

    /// The JSON of the item at `position`, written on its first use and
    /// kept; `None` once the kept texts have filled their budget (write
    /// the item itself then).
    pub(crate) fn written(&self, position: usize) -> Option<&RawValue> {
        self.written.get(position, &self.items)
    }
}

/// How many bytes of item JSON a pack keeps: every item of a catalog of up
/// to about 20,000 articles the Reading Room's size, and a bounded share of
/// a larger one, whose other items are written per answer.
const WRITTEN_ITEMS_BUDGET: usize = 32 << 20;

/// Each item's JSON text, written the first time an answer carries the item.
///
/// An item is static, so writing it for every answer (escaping the whole
/// article each time) did the same work again: about a twentieth of a
/// `domain_get_item`'s CPU. A kept text is copied into the answer as it is.
/// The texts are kept lazily, so start-up and idle memory do not grow, and
/// only up to a budget, so reading a large catalog end to end does not
/// double its memory.
struct WrittenItems {
    /// One slot per item, made when the first item is kept: 24 bytes an
    /// item (2.4 MB for 100,000) that a pack never answered from does not
    /// spend.
    texts: OnceLock<Box<[OnceLock<Box<RawValue>>]>>,
    /// Bytes left in the budget; 0 once an item did not fit, after which
    /// nothing more is written to be kept.
    room: AtomicUsize,
}

impl WrittenItems {
    fn new(budget: usize) -> Self {
        Self {
            texts: OnceLock::new(),
            room: AtomicUsize::new(budget),
        }
    }

    /// The kept JSON of `items[position]`, kept now if there is room;
    /// `items` is the pack's, the same on every call.
    fn get(&self, position: usize, items: &[Item]) -> Option<&RawValue> {
        let item = items.get(position)?;
        if let Some(text) = self.texts.get().and_then(|texts| texts[position].get()) {
            return Some(text);
        }
        if self.room.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let text = serde_json::value::to_raw_value(item).ok()?;
        let size = text.get().len();
        let reserved = self
            .room
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |room| {
                room.checked_sub(size)
            });
        if reserved.is_err() {
            self.room.store(0, Ordering::Relaxed);
            return None;
        }
        let slot = &self
            .texts
            .get_or_init(|| items.iter().map(|_| OnceLock::new()).collect())[position];
        if slot.set(text).is_err() {
            // Another call kept the same text first: give its room back.
            self.room.fetch_add(size, Ordering::Relaxed);
        }
        slot.get().map(|text| &**text)
    }
}

impl std::fmt::Debug for WrittenItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.texts.get().map_or(0, |texts| {
            texts.iter().filter(|t| t.get().is_some()).count()
        });
        f.debug_struct("WrittenItems")
            .field("kept", &kept)
            .field("room", &self.room.load(Ordering::Relaxed))
            .finish()
    }
}

fn check_items(items: &[Item]) -> Result<HashMap<String, usize>, String> {
    if items.is_empty() {
        return Err("holds no items".into());
    }
    let mut by_id = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let where_ = format!("item {} (`{}`)", i + 1, item.id);
        if item.id.is_empty()
            || item.id.len() > 64
            || !item
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("{where_}: id must be 1–64 of a-z, 0-9, - or _"));
        }
        for (field, value) in [
            ("title", &item.title),
            ("summary", &item.summary),
            ("body", &item.body),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{where_}: `{field}` is empty"));
            }
        }
        if by_id.insert(item.id.clone(), i).is_some() {
            return Err(format!("{where_}: id is used twice"));
        }
    }
    Ok(by_id)
}

/// Finds the `Rules:` summary line and checks that the fail-closed rule is present.
fn reminder_line(rules: &str) -> Result<String, String> {
    if !rules.to_lowercase().contains("fail closed") {
        return Err(
            "has no fail-closed paragraph (a line with `Fail closed.` telling the model \
                    to stop and say so when a tool reports a failure)"
                .into(),
        );
    }
    let line = rules
        .lines()
        .map(|l| l.trim().trim_start_matches(['-', '*']).trim_start())
        .find(|l| l.starts_with("Rules:"))
        .ok_or("has no one-line summary starting with `Rules:`")?;
    if line.chars().count() > MAX_REMINDER_CHARS {
        return Err(format!(
            "the `Rules:` line is longer than {MAX_REMINDER_CHARS} characters"
        ));
    }
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed")
    }

    #[test]
    fn the_reading_room_loads() {
        let pack = DomainPack::load(&pack_dir()).expect("seed pack loads");
        assert!(pack.items().len() >= 12);
        assert!(pack.reminder().starts_with("Rules:"));
        assert_eq!(pack.get("a1").map(|i| i.id.as_str()), Some("a1"));
        assert!(pack.get("a999").is_none());
    }

    #[test]
    fn an_items_kept_json_is_its_own_and_the_budget_holds() {
        let pack = DomainPack::load(&pack_dir()).expect("seed pack loads");
        let items = pack.items();
        let json = |i: usize| serde_json::to_string(&items[i]).expect("an item serialises");
        for (i, _) in items.iter().enumerate() {
            let kept = pack.written(i).expect("the seed pack fits the budget");
            assert_eq!(kept.get(), json(i));
            assert!(
                std::ptr::eq(kept, pack.written(i).expect("kept")),
                "kept once"
            );
        }
        assert!(pack.written(items.len()).is_none());
        assert_eq!(
            pack.reminder_json(),
            serde_json::to_string(pack.reminder()).expect("a string")
        );

        // Room for the first two items only: the third is refused, nothing
        // after it is kept, and what was kept stays.
        let two = json(0).len() + json(1).len();
        let written = WrittenItems::new(two);
        assert!(
            written.texts.get().is_none(),
            "no slots before the first item is kept"
        );
        assert!(written.get(0, items).is_some());
        assert!(written.get(1, items).is_some());
        assert!(written.get(2, items).is_none());
        assert!(written.get(3, items).is_none());
        assert_eq!(written.get(0, items).map(RawValue::get), Some(&*json(0)));
        assert_eq!(written.room.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn reminder_needs_a_summary_and_the_fail_closed_rule() {
        assert!(reminder_line("- Rules: x\n**Fail closed.** stop").is_ok());
        assert!(reminder_line("- Rules: x\n").is_err());
        assert!(reminder_line("Fail closed.\nno summary").is_err());
    }

    #[test]
    fn duplicate_and_bad_ids_are_named() {
        let item = |id: &str| Item {
            id: id.into(),
            title: "t".into(),
            author: None,
            tags: vec![],
            summary: "s".into(),
            body: "b".into(),
        };
        let err = check_items(&[item("a1"), item("a1")]).expect_err("dup");
        assert!(err.contains("item 2") && err.contains("twice"), "{err}");
        assert!(check_items(&[item("a 1")]).is_err());
        assert!(check_items(&[]).is_err());
    }
}
