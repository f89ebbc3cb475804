//! The data-pack app's domain: the pack's catalog, searched and opened,
//! written on the same surface as any app's tools ([`crate::domain`]).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Caller, DomainError, DomainTools, Tools},
    pack::{DomainPack, Hit, Item},
};

const DEFAULT_SEARCH_LIMIT: usize = 5;
const MAX_SEARCH_LIMIT: usize = 20;
const MAX_QUERY_CHARS: usize = 500;

/// `domain_search` and `domain_get_item` over a pack's items.
#[derive(Debug)]
pub struct Catalog {
    pack: Arc<DomainPack>,
}

impl Catalog {
    pub fn new(pack: Arc<DomainPack>) -> Self {
        Self { pack }
    }
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
    pub matches: Vec<Hit>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemResult {
    pub item: Item,
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
        Ok(SearchResult {
            query: query.to_owned(),
            matches: self.pack.search(query, limit),
        })
    }

    async fn get_item(
        self: Arc<Self>,
        _me: Caller,
        args: GetItemArgs,
    ) -> Result<ItemResult, DomainError> {
        match self.pack.get(args.id.trim()) {
            Some(item) => Ok(ItemResult { item: item.clone() }),
            None => Err(DomainError::not_found(&self.pack.item_noun, &args.id)),
        }
    }
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
