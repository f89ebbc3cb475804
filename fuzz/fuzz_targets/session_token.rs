//! The session-token parser on arbitrary input: it must never panic and
//! never accept a token this signer did not issue.
#![no_main]

use gateway::{config::Secret, identity::Identity, session::SessionSigner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = SessionSigner::new(&Secret::new([7u8; 32]), std::time::Duration::from_secs(60));
    let who = Identity {
        issuer: "https://issuer.example".into(),
        subject: "alice".into(),
        email: None,
        scopes: vec![],
    };
    assert!(
        signer.check(text, &who, 1_000).is_err(),
        "accepted a forged session"
    );
});
