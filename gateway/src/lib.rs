//! The Connector Devkit gateway: a remote MCP server whose customer is an AI.
//!
//! # Layout
//! - [`config`]: flags and environment, parsed into [`config::Settings`].
//! - [`pack`]: the domain pack (catalog, rules, persona) that makes the app.
//! - [`store`]: the two-table memory on SQLite or Postgres.
//! - [`auth`]: the resource server's token checks (no HTTP here).
//! - [`session`]: the HMAC session tokens `begin_session` hands out.
//! - [`identity`]: the verified caller.
//! - [`metrics`]: the counters behind `GET /metrics`.
//! - [`tools`]: the MCP tools and the server handler; `tool_schema` puts
//!   every tool definition in the form strict hosts validate.
//! - [`http`]: axum routes, the token gate, RFC 9728 metadata, probes.
//! - [`telemetry`]: log setup (`RUST_LOG`, `LOG_FORMAT=text|json`).
//! - `rmcp_edge`: every adjustment of rmcp's behaviour, in one place.
//! - [`startup`]: `Gateway::build` and `Application::build`, used by everyone.

pub mod app;
pub mod auth;
mod catalog;
pub mod config;
pub mod domain;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod pack;
mod rmcp_edge;
pub mod session;
pub mod startup;
pub mod store;
pub mod telemetry;
mod tool_schema;
pub mod tools;

pub use app::{App, AppContext};
pub use config::Config;
pub use startup::{Application, Gateway};
