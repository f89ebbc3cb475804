//! A bounded memory of access tokens that passed every check, so a host
//! that sends the same token on every call pays for one RSA verification,
//! not one per call.
//!
//! What a hit still checks, every time: expiry (with the same leeway as a
//! full check) and that the signing key is still published. `nbf`, the
//! future-`iat` guard, issuer, audience, signature and scopes cannot change
//! for the same bytes as time passes, so they are not repeated. Entries are
//! keyed by SHA-256 of the token: the exact bytes that were verified, and no
//! bearer credential kept in memory.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sha2::{Digest, Sha256};

use crate::identity::Identity;

/// SHA-256 of a token's bytes: what an entry is found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

#[derive(Debug)]
struct Entry {
    /// Shared: a hit hands out the same identity, not a copy of its strings.
    identity: Arc<Identity>,
    kid: String,
    /// `exp` plus the verifier's clock leeway: the last second a full check would pass.
    valid_until: i64,
}

impl Entry {
    fn expired(&self, now: i64) -> bool {
        self.valid_until < now
    }
}

/// Verified tokens, at most `capacity` of them.
#[derive(Debug)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<TokenKey, Entry>>,
    capacity: usize,
}

impl VerifiedTokens {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
            capacity,
        }
    }

    /// The identity of a token verified before, if it has not expired and
    /// its key is still one the issuer publishes.
    pub fn get(
        &self,
        key: TokenKey,
        now: i64,
        published: impl FnOnce(&str) -> bool,
    ) -> Option<Arc<Identity>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&key)?;
        if entry.expired(now) || !published(&entry.kid) {
            entries.remove(&key);
            return None;
        }
        Some(entry.identity.clone())
    }

    /// Remembers a token that has just passed every check, until
    /// `valid_until` (its `exp` plus the leeway the full check allowed).
    pub fn insert(
        &self,
        key: TokenKey,
        identity: Arc<Identity>,
        kid: String,
        valid_until: i64,
        now: i64,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| !entry.expired(now));
            // Still full of live tokens: start over rather than track recency.
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                identity,
                kid,
                valid_until,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEEWAY_SECS: i64 = 30;

    fn user(sub: &str) -> Arc<Identity> {
        Arc::new(Identity::test_user(sub))
    }

    #[test]
    fn a_hit_needs_the_same_bytes() {
        let cache = VerifiedTokens::new(8);
        cache.insert(TokenKey::of("a.b.c"), user("ada"), "k1".into(), 1_000, 0);
        assert_eq!(
            cache.get(TokenKey::of("a.b.c"), 10, |_| true),
            Some(user("ada"))
        );
        assert_eq!(cache.get(TokenKey::of("a.b.d"), 10, |_| true), None);
        assert_eq!(cache.get(TokenKey::of("a.b.c "), 10, |_| true), None);
    }

    #[test]
    fn expiry_is_enforced_on_every_hit_with_the_full_checks_leeway() {
        let cache = VerifiedTokens::new(8);
        // The verifier remembers a token until its `exp` plus its leeway.
        cache.insert(
            TokenKey::of("t"),
            user("ada"),
            "k1".into(),
            1_000 + LEEWAY_SECS,
            0,
        );
        assert!(
            cache
                .get(TokenKey::of("t"), 1_000 + LEEWAY_SECS, |_| true)
                .is_some()
        );
        assert_eq!(
            cache.get(TokenKey::of("t"), 1_001 + LEEWAY_SECS, |_| true),
            None
        );
        // An expired entry is gone, not just hidden.
        assert!(cache.is_empty());
    }

    #[test]
    fn a_key_no_longer_published_ends_the_entry() {
        let cache = VerifiedTokens::new(8);
        cache.insert(TokenKey::of("t"), user("ada"), "old".into(), 1_000, 0);
        assert_eq!(cache.get(TokenKey::of("t"), 1, |kid| kid != "old"), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_size_is_bounded() {
        let cache = VerifiedTokens::new(4);
        for i in 0..4 {
            cache.insert(
                TokenKey::of(&format!("live{i}")),
                user("x"),
                "k".into(),
                1_000,
                0,
            );
        }
        assert_eq!(cache.len(), 4);
        cache.insert(TokenKey::of("one more"), user("y"), "k".into(), 1_000, 0);
        assert!(cache.len() <= 4);
        assert_eq!(
            cache.get(TokenKey::of("one more"), 1, |_| true),
            Some(user("y"))
        );

        // Expired entries are the first to go.
        let cache = VerifiedTokens::new(2);
        cache.insert(TokenKey::of("old"), user("x"), "k".into(), 10, 0);
        cache.insert(TokenKey::of("live"), user("x"), "k".into(), 1_000, 0);
        cache.insert(TokenKey::of("new"), user("y"), "k".into(), 1_000, 500);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(TokenKey::of("live"), 500, |_| true).is_some());
    }
}
