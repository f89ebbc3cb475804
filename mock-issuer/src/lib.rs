//! The local OAuth 2.1 / OIDC authorization server (issue: mock issuer).
//!
//! Not built yet: this crate holds the workspace place for it. Until it
//! lands, the gateway's tests use the stand-in issuer in `tests/src/issuer.rs`.
