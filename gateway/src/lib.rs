//! The Connector Devkit gateway: a remote MCP server whose customer is an AI.
//!
//! # Layout
//! - [`config`]: flags and environment, parsed into [`config::Settings`].
//! - [`pack`]: the domain pack (catalog, rules, persona) that makes the app.
//! - [`store`]: the two-table memory on SQLite or Postgres.
//! - [`auth`]: the resource server's token checks (no HTTP here).
//! - [`session`]: the HMAC session tokens `begin_session` hands out.
//! - [`identity`]: the verified caller.
//! - [`domain`]: what an app's own tools are written against ([`App`]
//!   gathers them); `catalog` is the pack's catalog as such tools.
//! - `metrics`: the counters behind `GET /metrics`.
//! - `tools`: the kit's MCP tools and the server handler; `tool_schema`
//!   puts every tool definition in the form strict hosts validate.
//! - `http`: axum routes, the token gate, RFC 9728 metadata, probes.
//! - `rmcp_edge`: every adjustment of rmcp's behaviour, in one place.
//! - `startup`: [`Gateway::build`] and [`Application::build`], used by
//!   every `main` and every test, and [`run_alone`].
//!
//! Modules are private unless another crate needs them; the accept loop,
//! CORS and log setup the issuer shares are in `kit-serve`.

mod app;
pub mod auth;
mod catalog;
pub mod config;
pub mod domain;
mod http;
pub mod identity;
mod metrics;
pub mod pack;
mod rmcp_edge;
pub mod search;
pub mod session;
mod startup;
pub mod store;
mod tool_schema;
mod tools;

pub use app::{App, AppContext};
pub use config::Config;
pub use startup::{Application, Gateway, run_alone};
