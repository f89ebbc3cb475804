//! The end-to-end suite: the real gateway on port 0, real RS256 tokens, the
//! rmcp streamable HTTP client, and SQLite always plus Postgres when
//! `TEST_DATABASE_URL` is set. One binary, one module per concern.

mod abandoned;
mod attacks;
mod auth;
mod concurrency;
mod faults;
mod hosts;
mod logs;
mod metrics;
mod oauth;
mod packs;
mod pooler;
mod postgres_tls;
mod tools;
mod transport;
mod wire;
mod workers;
