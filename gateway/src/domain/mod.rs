//! Domain tools: what an app writes. Everything else is the kit's.
//!
//! An app registers its tools on [`Tools`], as plain async functions that
//! receive a [`Caller`] and their typed arguments:
//!
//! ```
//! use std::sync::Arc;
//! use gateway::domain::{AppDb, Caller, DomainError, DomainTools, NoArgs, Tools};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! struct Notes {
//!     db: AppDb,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Count {
//!     notes: i64,
//! }
//!
//! impl Notes {
//!     async fn count(self: Arc<Self>, me: Caller, _: NoArgs) -> Result<Count, DomainError> {
//!         let notes = sqlx::query_scalar("SELECT COUNT(*) FROM notes WHERE owner = $1")
//!             .bind(me.subject())
//!             .fetch_one(self.db.pool())
//!             .await?;
//!         Ok(Count { notes })
//!     }
//! }
//!
//! impl DomainTools for Notes {
//!     fn register(tools: &mut Tools<Self>) {
//!         tools.query("user_note_count", "Your note count", "How many notes you have.", Self::count);
//!     }
//! }
//! ```
//!
//! What the author did not write, because the kit does it for every tool:
//! the `session` argument and its check before the body runs (no valid
//! session: `SESSION_REQUIRED`, and the body never runs); the caller, which
//! only the verified token makes; `INVALID_ARGUMENT` for arguments that do
//! not fit; the rules reminder on every result; `STORE_UNAVAILABLE` for a
//! database error; the title, annotations and object output schema; for an
//! action, the `idempotency_key` and the stored first outcome.
//!
//! The kit refuses to start (see [`RegistryError`]) with a tool whose
//! arguments are not an object that denies unknown fields, whose argument
//! names look like the caller's identity (`sub`, `user_id`, …), whose output
//! is not an object, or whose name clashes with the kit's or is not
//! `domain_*` / `user_*`.

mod actions;
mod answer;
mod cpu;
mod db;
mod dispatch;
mod registry;

pub(crate) use answer::WrittenOnce;
pub use cpu::cpu_bound;
pub(crate) use db::alongside_the_kit;
pub use db::{AppDb, AppMigrations, Backend, Tx, TxConnection};
pub(crate) use dispatch::Domain;
pub use registry::{DomainTools, NoArgs, RegistryError, ToolOptions, Tools};

/// Registers an app's tools from its methods: the method's name is the
/// tool's name, its `///` doc comment the description the model reads.
///
/// - `#[query(title = "…")]`: a tool that reads,
///   `async fn(self: Arc<Self>, me: Caller, args: A) -> Result<O, DomainError>`.
/// - `#[action(title = "…")]`: a tool that writes, with `tx: Tx` last; the
///   kit adds its `idempotency_key`. Add `additive` when it never deletes
///   or overwrites (a booking, a ticket).
/// - `open_world` on either: it reaches beyond the app's own data.
/// - `#[begin_session]`: `async fn(self: Arc<Self>, me: Caller) -> Result<O, DomainError>`,
///   whose output joins `begin_session`'s answer under `app`.
///
/// Unmarked methods are the app's own helpers. The macro writes the
/// [`DomainTools::register`] an author would otherwise write by hand, so
/// every check the kit makes at start applies the same way.
///
/// ```
/// use std::sync::Arc;
/// use gateway::domain::{Caller, DomainError, NoArgs, domain_tools};
/// use schemars::JsonSchema;
/// use serde::Serialize;
///
/// struct Greeter;
///
/// #[derive(Serialize, JsonSchema)]
/// struct Greeting {
///     text: String,
/// }
///
/// #[domain_tools]
/// impl Greeter {
///     /// A greeting for the signed-in person.
///     #[query(title = "Say hello")]
///     async fn user_greeting(self: Arc<Self>, me: Caller, _: NoArgs) -> Result<Greeting, DomainError> {
///         Ok(Greeting { text: format!("Hello, {}", me.subject()) })
///     }
/// }
/// ```
///
/// A tool without a description does not compile:
///
/// ```compile_fail
/// # use std::sync::Arc;
/// # use gateway::domain::{Caller, DomainError, NoArgs, domain_tools};
/// # #[derive(serde::Serialize, schemars::JsonSchema)] struct Out {}
/// struct Greeter;
///
/// #[domain_tools]
/// impl Greeter {
///     #[query(title = "Say hello")]
///     async fn user_greeting(self: Arc<Self>, me: Caller, _: NoArgs) -> Result<Out, DomainError> {
///         Ok(Out {})
///     }
/// }
/// ```
///
/// Nor does a tool whose body would take the caller from anywhere but the
/// kit: a [`Caller`] cannot be built, only received.
///
/// ```compile_fail
/// # use gateway::domain::Caller;
/// let forged = Caller { subject: "alice".into(), issuer: String::new(), email: None };
/// ```
pub use gateway_macros::domain_tools;

use std::sync::Arc;

use crate::identity::Identity;

/// Who is calling, as the verified access token says. The kit makes it;
/// there is no way to build one from a tool's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The verified identity itself, shared: a call makes no copy of it.
    identity: Arc<Identity>,
}

impl Caller {
    /// The token's `sub`: the key for the caller's own records.
    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    /// The token's (or the issuer's userinfo) email, when there is one.
    pub fn email(&self) -> Option<&str> {
        self.identity.email.as_deref()
    }

    /// The issuer that vouched for the caller.
    pub fn issuer(&self) -> &str {
        &self.identity.issuer
    }

    pub(crate) fn from_identity(identity: &Arc<Identity>) -> Self {
        Self {
            identity: identity.clone(),
        }
    }
}

/// Why a domain tool did not do what was asked, told to the model as a tool
/// error whose first word is a stable code.
#[derive(Debug)]
pub struct DomainError(pub(crate) Failure);

#[derive(Debug)]
pub(crate) enum Failure {
    NotFound {
        noun: String,
        id: String,
        hint: Option<String>,
    },
    Refused {
        code: String,
        message: String,
    },
    Invalid(String),
    Store(sqlx::Error),
}

impl DomainError {
    /// `NOT_FOUND: there is no {noun} with id `{id}``. Also the answer for
    /// another user's record, so nothing tells the caller it exists.
    pub fn not_found(noun: &str, id: &str) -> Self {
        Self(Failure::NotFound {
            noun: noun.to_owned(),
            // Echo at most a short prefix of what was asked for.
            id: id.chars().take(64).collect(),
            hint: None,
        })
    }

    /// Says where real ids come from, for a `not_found` whose ids are not
    /// `domain_search`'s: `.hint("user_orders lists your orders")`.
    pub fn hint(mut self, where_ids_come_from: impl Into<String>) -> Self {
        if let Failure::NotFound { hint, .. } = &mut self.0 {
            *hint = Some(where_ids_come_from.into());
        }
        self
    }

    /// A refusal the domain decides (`SOLD_OUT`, `CLOSED`, …): `code` is
    /// upper-case words joined by `_` (anything else becomes `REFUSED`),
    /// `message` tells the model what happened and what to do next.
    pub fn refused(code: &str, message: impl Into<String>) -> Self {
        let valid = (1..=40).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        Self(Failure::Refused {
            code: if valid { code } else { "REFUSED" }.to_owned(),
            message: message.into(),
        })
    }

    /// `INVALID_ARGUMENT: {problem}`, for arguments that fit the schema but
    /// not the domain (a date in the past, a count of zero).
    pub fn invalid(problem: impl Into<String>) -> Self {
        Self(Failure::Invalid(problem.into()))
    }
}

/// A database error fails closed: `STORE_UNAVAILABLE`, the cause logged once.
impl From<sqlx::Error> for DomainError {
    fn from(error: sqlx::Error) -> Self {
        Self(Failure::Store(error))
    }
}

impl std::fmt::Display for DomainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Failure::NotFound { noun, id, .. } => write!(f, "no {noun} with id `{id}`"),
            Failure::Refused { code, message } => write!(f, "{code}: {message}"),
            Failure::Invalid(problem) => write!(f, "invalid argument: {problem}"),
            Failure::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for DomainError {}
