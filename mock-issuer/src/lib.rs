//! The local OAuth 2.1 / OIDC authorization server (issue: mock issuer).
//!
//! # Layout
//!
//! The protocol rules come first, as plain modules that know nothing of HTTP
//! and are tested with plain inputs:
//!
//! - `pkce`: PKCE code challenges, S256 only (RFC 7636, required by OAuth 2.1).
//! - [`redirect`]: which redirect URIs may be registered, and how a requested
//!   one is matched against them (RFC 6749 §3.1.2, RFC 8252 §7.1/§7.3/§8.3).
//! - `metadata`: the authorization server metadata document (RFC 8414 §2).
//! - [`registration`]: dynamic client registration requests (RFC 7591 §2/§3).
//!
//! Then the issuer's own state and steps, still free of HTTP:
//!
//! - [`keys`]: the RSA signing keys, persisted 0600, JWKS, rotation.
//! - [`tokens`]: RS256 access tokens (RFC 9068 profile).
//! - [`clients`]: registered clients, persisted across restarts.
//! - [`cimd`]: client ID metadata documents, fetched with SSRF guards.
//! - `digest`: SHA-256 for stored secrets and S256, constant-time comparison.
//! - [`authorize`]: the authorization request checks (RFC 6749 §4.1, OAuth 2.1).
//! - `grants`: single-use codes, rotating refresh tokens (RFC 9700 §4.14)
//!   with a short reuse interval for clients that race or retry.
//! - `seal`: sealing a kept answer under a secret the issuer does not keep.
//! - [`exchange`]: the token endpoint's wire types and errors (RFC 6749 §5).
//! - [`issuer`]: [`issuer::Issuer`], which ties them together.
//!
//! And the edges: `page` (the sign-in and consent HTML), [`passcode`]
//! (the gate on it while `devkit up` runs through a tunnel), [`http`] (the
//! axum routes), [`config`] and [`startup`] (running it alone).
//!
//! # Why hand-written
//! oxide-auth, the obvious crate, is dormant and lacks dynamic registration,
//! discovery metadata, JWKS and RFC 8707 resource indicators, which MCP hosts
//! need; see `ARCHITECTURE.md`.

pub mod authorize;
pub mod cimd;
pub mod clients;
pub mod config;
mod digest;
pub mod exchange;
mod grants;
pub mod http;
pub mod issuer;
pub mod keys;
mod metadata;
mod page;
pub mod passcode;
mod pkce;
pub mod redirect;
pub mod registration;
mod seal;
pub mod startup;
pub mod tokens;
