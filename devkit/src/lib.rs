//! The `devkit` command line, which every app on the kit gets: [`run`].
//!
//! - `up`: `devkit up`, the gateway and the issuer on one origin behind a
//!   tunnel. It uses `bootstrap` (what a fresh clone lacks), `tunnel`
//!   (cloudflared), `site` (both configurations from one origin), `verify`
//!   (the check from outside), `banner`, and `live` (a line on stderr for
//!   each sign-in step, tool call and refusal), `dashboard` (the same, and
//!   more, as a page on loopback at `/_devkit/`; `inspect` is its token
//!   inspector).
//! - `doctor`: `devkit doctor`, what is missing or wrong, one line each;
//!   `host` checks what an AI host needs of the connector and its issuer.
//! - `mint`: `devkit mint-token`, tokens signed with the issuer's persisted key.
//! - `call`: `devkit call`, one tool call as a signed-in user, through a real
//!   MCP client (or `--list`, the tools and their arguments).
//! - `new`: `devkit new`, a new app from a template (a pack, or a crate).

mod banner;
mod bootstrap;
mod call;
mod cli;
mod dashboard;
mod doctor;
mod host;
mod inspect;
mod live;
mod mint;
mod new;
mod site;
mod tunnel;
mod up;
mod verify;

pub use cli::run;
pub(crate) use kit_serve::error_chain;
