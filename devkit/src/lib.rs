//! The `devkit` command line (`up`, `mint-token`, `doctor`).
//!
//! Not built yet: this crate holds the workspace place for it. Until it
//! lands, run the gateway alone with `cargo run -p gateway`.
