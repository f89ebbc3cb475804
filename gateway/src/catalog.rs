//! The data-pack app's domain: the pack's catalog, searched, opened and
//! rated, written on the same surface as any app's tools ([`crate::domain`]).
//!
//! Rating is an action (a real write other readers see: the average shows
//! in search results). Behind a transaction-mode pooler, where actions
//! cannot run, the catalog is served without ratings.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use sqlx::Row;

use crate::{
    domain::{AppDb, Caller, DomainError, DomainTools, Tools, Tx, cpu_bound},
    pack::{DomainPack, Item},
    search::SearchIndex,
};

const DEFAULT_SEARCH_LIMIT: usize = 5;
const MAX_SEARCH_LIMIT: usize = 20;
const MAX_QUERY_CHARS: usize = 500;

/// `domain_search`, `domain_get_item` and `domain_rate_item` over a pack's items.
#[derive(Debug)]
pub struct Catalog {
    pack: Arc<DomainPack>,
    /// Over the pack's items; `None` when the pack has none.
    index: Option<Arc<SearchIndex>>,
    /// Where ratings live; `None` behind a transaction-mode pooler.
    ratings: Option<AppDb>,
}

impl Catalog {
    /// The catalog; with `ratings`, search shows each match's rating.
    pub fn new(
        pack: Arc<DomainPack>,
        index: Option<Arc<SearchIndex>>,
        ratings: Option<AppDb>,
    ) -> Self {
        Self {
            pack,
            index,
            ratings,
        }
    }
}

/// `domain_rate_item`: a domain of its own, so it is registered only where
/// actions can run (not behind a transaction-mode pooler).
#[derive(Debug)]
pub struct Ratings {
    pack: Arc<DomainPack>,
}

impl Ratings {
    pub fn new(pack: Arc<DomainPack>) -> Self {
        Self { pack }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateArgs {
    /// The item's id, as `domain_search` returned it.
    pub id: String,
    /// 1 (poor) to 5 (excellent). Rating again replaces your earlier rating.
    pub stars: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Rated {
    pub id: String,
    pub stars: i64,
    /// Every reader's ratings of the item, yours included.
    pub rating: Rating,
}

/// What readers think of an item.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rating {
    /// The mean of the readers' stars, to one decimal.
    pub average: f64,
    pub count: i64,
}

/// A search match: enough to choose, not the whole body.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// Where the query's words meet the text, matched words in `**bold**`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub snippet: String,
    /// How well the item matches (BM25): higher is better, comparable
    /// only within one answer.
    pub score: f64,
}

/// A search match with its rating, when it has one.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RatedHit {
    #[serde(flatten)]
    pub hit: Hit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Words to look for in titles, tags, summaries and bodies.
    pub query: String,
    /// How many matches to return (1–20, default 5).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetItemArgs {
    /// The item's id, as returned by `domain_search` (for example `a1`).
    pub id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchResult {
    pub query: String,
    pub matches: Vec<RatedHit>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemResult {
    pub item: SharedItem,
}

/// One of the pack's items, written from the pack's own copy: the answer
/// is written once, so a copy of the article for it would be thrown away.
/// Written, and described in the output schema, exactly as an [`Item`].
/// Written as JSON only: the item's kept JSON text goes in as it is
/// (`DomainPack::written`).
#[derive(Debug)]
pub struct SharedItem {
    pack: Arc<DomainPack>,
    position: usize,
}

impl Serialize for SharedItem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.pack.written(self.position) {
            Some(text) => text.serialize(serializer),
            None => self.pack.items()[self.position].serialize(serializer),
        }
    }
}

impl JsonSchema for SharedItem {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        Item::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        Item::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Item::json_schema(generator)
    }
}

impl Catalog {
    async fn search(
        self: Arc<Self>,
        _me: Caller,
        args: SearchArgs,
    ) -> Result<SearchResult, DomainError> {
        let query = args.query.trim();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(DomainError::invalid(format!(
                "`query` must be 1 to {MAX_QUERY_CHARS} characters of words to look for"
            )));
        }
        let limit = match args.limit {
            None => DEFAULT_SEARCH_LIMIT,
            Some(n) if (1..=MAX_SEARCH_LIMIT as u32).contains(&n) => n as usize,
            Some(n) => {
                return Err(DomainError::invalid(format!(
                    "`limit` is {n}; it must be between 1 and {MAX_SEARCH_LIMIT}"
                )));
            }
        };
        let hits = match &self.index {
            // Ranking is CPU work, sized by the pack: off the async workers.
            Some(index) => {
                let (index, words) = (index.clone(), query.to_owned());
                cpu_bound(move || hits(&index, &words, limit))
                    .await
                    .map_err(|empty| DomainError::invalid(format!("`query`: {empty}")))?
            }
            None => Vec::new(),
        };
        let mut ratings = match &self.ratings {
            Some(db) => ratings_of(db, &hits).await?,
            None => Default::default(),
        };
        let matches = hits
            .into_iter()
            .map(|hit| RatedHit {
                rating: ratings.remove(&hit.id),
                hit,
            })
            .collect();
        Ok(SearchResult {
            query: query.to_owned(),
            matches,
        })
    }

    async fn get_item(
        self: Arc<Self>,
        _me: Caller,
        args: GetItemArgs,
    ) -> Result<ItemResult, DomainError> {
        match self.pack.position(args.id.trim()) {
            Some(position) => Ok(ItemResult {
                item: SharedItem {
                    pack: self.pack.clone(),
                    position,
                },
            }),
            None => Err(DomainError::not_found(&self.pack.item_noun, &args.id)),
        }
    }
}

impl Ratings {
    async fn rate(
        self: Arc<Self>,
        me: Caller,
        args: RateArgs,
        tx: Tx,
    ) -> Result<Rated, DomainError> {
        let id = args.id.trim();
        if self.pack.get(id).is_none() {
            return Err(DomainError::not_found(&self.pack.item_noun, &args.id));
        }
        if !(1..=5).contains(&args.stars) {
            return Err(DomainError::invalid(format!(
                "`stars` is {}; it must be 1 to 5",
                args.stars
            )));
        }
        let mut db = tx.conn().await?;
        sqlx::query(
            "INSERT INTO catalog_ratings (item_id, user_id, stars, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (item_id, user_id) DO UPDATE SET stars = excluded.stars, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(me.subject())
        .bind(args.stars)
        .bind(chrono::Utc::now().to_rfc3339())
        .execute(&mut *db)
        .await?;
        let row = sqlx::query(
            "SELECT SUM(stars) AS total, COUNT(*) AS count FROM catalog_ratings WHERE item_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *db)
        .await?;
        Ok(Rated {
            id: id.to_owned(),
            stars: args.stars,
            rating: rating(row.try_get("total")?, row.try_get("count")?),
        })
    }
}

fn hits(
    index: &SearchIndex,
    query: &str,
    limit: usize,
) -> Result<Vec<Hit>, crate::search::EmptyQuery> {
    Ok(index
        .search(query, limit)?
        .into_iter()
        .map(|found| {
            let item = &index.items()[found.position];
            Hit {
                id: item.id.clone(),
                title: item.title.clone(),
                summary: item.summary.clone(),
                snippet: found.snippet,
                // Three decimals say all a model can use, in fewer tokens.
                // Rounded as f64: the answer goes through a JSON value,
                // whose numbers are f64, and an f32 such as 21.253 widens
                // to 21.253000259399418.
                score: (f64::from(found.score) * 1000.0).round() / 1000.0,
            }
        })
        .collect())
}

/// The ratings of `hits`' items, by id, in one query.
async fn ratings_of(
    db: &AppDb,
    hits: &[Hit],
) -> Result<std::collections::HashMap<String, Rating>, DomainError> {
    if hits.is_empty() {
        return Ok(Default::default());
    }
    let marks: Vec<String> = (1..=hits.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT item_id, SUM(stars) AS total, COUNT(*) AS count FROM catalog_ratings \
         WHERE item_id IN ({}) GROUP BY item_id",
        marks.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for hit in hits {
        query = query.bind(&hit.id);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("item_id")?,
                rating(row.try_get("total")?, row.try_get("count")?),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DomainError::from)
}

fn rating(total: i64, count: i64) -> Rating {
    let average = if count == 0 {
        0.0
    } else {
        (total as f64 / count as f64 * 10.0).round() / 10.0
    };
    Rating { average, count }
}

impl DomainTools for Catalog {
    fn register(tools: &mut Tools<Self>) {
        tools.query(
            "domain_search",
            "Search the catalog",
            "Search the catalog. Returns ranked matches (id, title, summary); open one with domain_get_item.",
            Self::search,
        );
        tools.query(
            "domain_get_item",
            "Open a catalog item",
            "Get one catalog item, with its full body, by the id domain_search returned (for example `a1`).",
            Self::get_item,
        );
    }
}

impl DomainTools for Ratings {
    fn register(tools: &mut Tools<Self>) {
        tools
            .action(
                "domain_rate_item",
                "Rate a catalog item",
                "Rate an item 1 to 5 stars for the person; rating again replaces their earlier rating. \
                 Every reader sees the average in search results. Only when the person asks to rate.",
                Self::rate,
            )
            .additive();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `domain_get_item`'s answer as it was, a copy of the item.
    #[derive(JsonSchema)]
    #[allow(dead_code, reason = "only its schema is compared")]
    struct Copied {
        item: Item,
    }

    #[test]
    fn a_shared_item_is_described_as_the_item_it_shares() {
        let shared = schemars::schema_for!(ItemResult);
        let copied = schemars::schema_for!(Copied);
        for part in ["properties", "required", "$defs"] {
            assert_eq!(shared.get(part), copied.get(part), "{part}");
        }
        assert!(
            shared
                .get("$defs")
                .is_some_and(|defs| defs.get("Item").is_some())
        );
    }
}
