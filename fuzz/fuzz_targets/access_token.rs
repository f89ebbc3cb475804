//! The access-token check on arbitrary input, up to and including the
//! header and claims handling before the signature is checked. The issuer
//! is not there (port 9), so any token that gets as far as asking for keys
//! is refused as unavailable: every input must be refused, none may panic.
#![no_main]

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use gateway::auth::{KeyStore, TokenVerifier, token::DEFAULT_LEEWAY};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<TokenVerifier> = LazyLock::new(|| {
    let nowhere = url::Url::parse("http://127.0.0.1:9/").expect("url");
    let jwks = nowhere.join("jwks.json").expect("url");
    // A long refetch interval: after the first refusal, no network per input.
    let keys = Arc::new(KeyStore::new(
        nowhere,
        Some(jwks),
        Duration::from_secs(3600),
    ));
    TokenVerifier::new(
        keys,
        "http://127.0.0.1:9",
        "https://room.example/mcp",
        vec![],
        DEFAULT_LEEWAY,
    )
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let verdict = RUNTIME.block_on(VERIFIER.verify(token, 1_800_000_000));
    assert!(verdict.is_err(), "accepted a token with no key to check it");
});
