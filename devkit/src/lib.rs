//! The `devkit` command line.
//!
//! - [`mint`]: `devkit mint-token`, tokens signed with the issuer's persisted key.
//!
//! `devkit up` and `devkit doctor` come next (their issue); until then run
//! the gateway with `cargo run -p gateway` and the issuer with
//! `cargo run -p mock-issuer`.

pub mod mint;
