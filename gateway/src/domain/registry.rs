//! Registering domain tools: typed functions in, one erased, checked form
//! out. Every check that can be made before a call is made here, once, and
//! a tool that fails one stops the app from starting.

use std::{future::Future, pin::Pin, sync::Arc};

use rmcp::{
    handler::server::common::{schema_for_input, schema_for_output},
    model::JsonObject,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::{Caller, DomainError, Tx, answer::ObjectJson};
use crate::tools::Gated;

/// A domain's tools, registered by [`DomainTools::register`].
pub trait DomainTools: Send + Sync + Sized + 'static {
    /// Adds the domain's tools with [`Tools::query`] and [`Tools::action`].
    fn register(tools: &mut Tools<Self>);
}

/// The arguments of a tool that needs none beyond the kit's own.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Argument names that claim to say who is calling. A tool that takes one
/// is refused: who is calling comes from the verified [`Caller`] only.
/// (`subject` and `user` are ordinary words in many domains, a ticket's
/// subject say, so they are left to the author.)
const IDENTITY_NAMES: [&str; 10] = [
    "sub",
    "user_id",
    "userid",
    "userId",
    "caller",
    "identity",
    "as_user",
    "on_behalf_of",
    "acting_as",
    "impersonate",
];

/// Argument names the kit adds to every tool (`session`) or every action.
pub(crate) const SESSION: &str = "session";
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency_key";
/// The field the kit adds to every result.
pub(crate) const REMINDER: &str = "reminder";

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a call hands the tool's body: the caller, the arguments (the kit's
/// own taken out), and for an action its transaction.
pub(crate) struct Invocation {
    pub caller: Caller,
    pub args: Value,
    pub tx: Option<Tx>,
}

/// The erased body: arguments parsed, output written as JSON.
pub(crate) type Handler<S> =
    Arc<dyn Fn(Arc<S>, Invocation) -> BoxFuture<Result<ObjectJson, Outcome>> + Send + Sync>;

/// How a body ended when it did not return a result.
pub(crate) enum Outcome {
    /// The arguments did not deserialise into the tool's type.
    BadArguments(String),
    Domain(DomainError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Reads; annotated read-only.
    Query,
    /// Changes something; takes an `idempotency_key`, runs in a transaction.
    Action,
}

/// Hints a host reads before it calls (MCP tool annotations).
#[derive(Debug, Clone)]
pub struct ToolOptions {
    pub(crate) destructive: bool,
    pub(crate) open_world: bool,
}

impl ToolOptions {
    /// The action only adds (a booking, a ticket): never deletes or
    /// overwrites, so hosts need not ask before calling it.
    pub fn additive(&mut self) -> &mut Self {
        self.destructive = false;
        self
    }

    /// The tool reaches beyond the app's own data (another service).
    pub fn open_world(&mut self) -> &mut Self {
        self.open_world = true;
        self
    }
}

pub(crate) struct Registered<S> {
    pub name: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    pub options: ToolOptions,
    /// Whatever went wrong with the types, found when the tool was added.
    pub input: Result<Arc<JsonObject>, String>,
    pub output: Result<Arc<JsonObject>, String>,
    pub handler: Handler<S>,
}

/// The function that makes a domain's `begin_session` fields, erased.
pub(crate) type MakeFields<S> =
    Arc<dyn Fn(Arc<S>, Caller) -> BoxFuture<Result<Value, Outcome>> + Send + Sync>;

/// What a domain adds to `begin_session`'s answer: its fields' schema (an
/// object's, or why not) and how to make them.
pub(crate) struct SessionBlock<S> {
    pub schema: Result<Arc<JsonObject>, String>,
    pub make: MakeFields<S>,
}

/// The tools of one domain, as registered: checked and served by the kit.
pub struct Tools<S> {
    pub(crate) tools: Vec<Registered<S>>,
    pub(crate) session_blocks: Vec<SessionBlock<S>>,
}

impl<S> std::fmt::Debug for Tools<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|t| &t.name))
            .finish()
    }
}

impl<S: Send + Sync + 'static> Tools<S> {
    pub(crate) fn new() -> Self {
        Self {
            tools: Vec::new(),
            session_blocks: Vec::new(),
        }
    }

    /// Adds the fields of `block(state, caller)` (a struct) to what
    /// `begin_session` answers, under `app`: what the model should know at
    /// the start of every conversation (a learner's position, the open
    /// tickets). A store error fails `begin_session` closed. The struct's
    /// fields and their doc comments are published in `begin_session`'s
    /// output schema; two domains adding the same field is refused at start.
    pub fn begin_session_adds<O, F, Fut>(&mut self, block: F)
    where
        O: Serialize + JsonSchema + 'static,
        F: Fn(Arc<S>, Caller) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, DomainError>> + Send + 'static,
    {
        let block = Arc::new(block);
        let schema = object_schema::<O>().ok_or_else(|| {
            "what begin_session_adds returns must be a struct (a JSON object): its fields \
             join begin_session's answer under `app`"
                .to_owned()
        });
        self.session_blocks.push(SessionBlock {
            schema,
            make: Arc::new(move |state, caller| {
                let block = block.clone();
                Box::pin(async move {
                    let output = block(state, caller).await.map_err(Outcome::Domain)?;
                    to_value(&output)
                })
            }),
        });
    }

    /// A tool that reads: `handler(state, caller, args)`.
    pub fn query<A, O, F, Fut>(
        &mut self,
        name: &str,
        title: &str,
        description: &str,
        handler: F,
    ) -> &mut ToolOptions
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(Arc<S>, Caller, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, DomainError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler<S> = Arc::new(move |state, invocation: Invocation| {
            let handler = handler.clone();
            Box::pin(async move {
                let args = parse::<A>(invocation.args)?;
                let output = handler(state, invocation.caller, args)
                    .await
                    .map_err(Outcome::Domain)?;
                written(&output)
            })
        });
        self.add::<A, O>(name, title, description, Kind::Query, erased)
    }

    /// A tool that changes something: `handler(state, caller, args, tx)`.
    /// Its writes go through `tx`, which the kit commits together with the
    /// outcome it stores under the call's `idempotency_key`, so a retry
    /// returns the first outcome and never has a second effect.
    pub fn action<A, O, F, Fut>(
        &mut self,
        name: &str,
        title: &str,
        description: &str,
        handler: F,
    ) -> &mut ToolOptions
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(Arc<S>, Caller, A, Tx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, DomainError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler<S> = Arc::new(move |state, invocation: Invocation| {
            let handler = handler.clone();
            Box::pin(async move {
                let args = parse::<A>(invocation.args)?;
                let Some(tx) = invocation.tx else {
                    unreachable!("the kit runs every action in a transaction")
                };
                let output = handler(state, invocation.caller, args, tx)
                    .await
                    .map_err(Outcome::Domain)?;
                written(&output)
            })
        });
        self.add::<A, O>(name, title, description, Kind::Action, erased)
    }

    fn add<A, O>(
        &mut self,
        name: &str,
        title: &str,
        description: &str,
        kind: Kind,
        handler: Handler<S>,
    ) -> &mut ToolOptions
    where
        A: JsonSchema + 'static,
        O: JsonSchema + 'static,
    {
        let output = output_schema::<O>();
        self.tools.push(Registered {
            name: name.to_owned(),
            title: title.to_owned(),
            description: description.to_owned(),
            kind,
            options: ToolOptions {
                destructive: kind == Kind::Action,
                open_world: false,
            },
            input: schema_for_input::<A>(),
            output,
            handler,
        });
        let last = self.tools.len() - 1;
        &mut self.tools[last].options
    }
}

fn parse<A: DeserializeOwned>(args: Value) -> Result<A, Outcome> {
    serde_json::from_value(args).map_err(|e| Outcome::BadArguments(e.to_string()))
}

fn to_value<O: Serialize>(output: &O) -> Result<Value, Outcome> {
    serde_json::to_value(output).map_err(|e| unwritable(e.to_string()))
}

fn written<O: Serialize>(output: &O) -> Result<ObjectJson, Outcome> {
    ObjectJson::write(output).map_err(unwritable)
}

/// A type that cannot be written is a bug in the app, not the caller's doing.
fn unwritable(problem: String) -> Outcome {
    Outcome::Domain(DomainError::refused(
        "INTERNAL_ERROR",
        format!("the tool's answer could not be written: {problem}"),
    ))
}

/// The result's schema as hosts see it: the tool's object plus the reminder.
/// `O`'s output schema when `O` serializes as an object (a struct).
fn object_schema<O: JsonSchema + 'static>() -> Option<Arc<JsonObject>> {
    let own = schema_for_output::<O>();
    (own.get("type") == Some(&Value::String("object".into()))).then_some(own)
}

fn output_schema<O: JsonSchema + 'static>() -> Result<Arc<JsonObject>, String> {
    let Some(own) = object_schema::<O>() else {
        return Err(
            "its result must be a struct (a JSON object), so the kit can add the rules reminder; \
             wrap a list in a struct field"
                .into(),
        );
    };
    if own
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|fields| fields.contains_key(REMINDER))
    {
        return Err(format!(
            "its result has a `{REMINDER}` field, which the kit adds to every result (the app's \
             rules in one line): rename the field"
        ));
    }
    Ok(schema_for_output::<Gated<O>>())
}

/// Why the kit refused a domain's tools at start.
#[derive(Debug, thiserror::Error)]
#[error("domain tool `{tool}`: {problem}")]
pub struct RegistryError {
    pub tool: String,
    pub problem: String,
}

/// Checks one registered tool against the kit's rules; `taken` are names
/// already in use (the kit's tools and earlier domain tools).
pub(crate) fn check<S>(tool: &Registered<S>, taken: &[String]) -> Result<(), RegistryError> {
    let fail = |problem: String| RegistryError {
        tool: tool.name.clone(),
        problem,
    };
    let name_ok = tool
        .name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && (tool.name.starts_with("domain_") || tool.name.starts_with("user_"))
        && tool.name.len() <= 64;
    if !name_ok {
        return Err(fail(
            "a domain tool's name is `domain_…` (the app's catalog and actions) or `user_…` (the \
             caller's own records), in lower-case letters, digits and `_`, at most 64 characters"
                .into(),
        ));
    }
    if taken.contains(&tool.name) {
        return Err(fail(
            "the name is already taken (by the kit or another tool)".into(),
        ));
    }
    if tool.title.trim().is_empty() || tool.description.trim().is_empty() {
        return Err(fail(
            "give it a title and a description: hosts show them, models read them".into(),
        ));
    }
    let input = tool
        .input
        .as_ref()
        .map_err(|e| fail(format!("its arguments: {e}")))?;
    tool.output.as_ref().map_err(|e| fail(e.clone()))?;
    if input.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Err(fail(
            "its arguments type must refuse unknown fields: add `#[serde(deny_unknown_fields)]`, \
             so an argument the tool does not read (a `user_id`, say) is an error, not ignored"
                .into(),
        ));
    }
    let properties = input.get("properties").and_then(Value::as_object);
    for name in properties.into_iter().flat_map(|p| p.keys()) {
        if name == SESSION || name == IDEMPOTENCY_KEY {
            return Err(fail(format!(
                "`{name}` is the kit's argument: remove it from the arguments type; the kit adds \
                 and checks it"
            )));
        }
        if IDENTITY_NAMES.contains(&name.as_str()) {
            return Err(fail(format!(
                "argument `{name}` looks like the caller's identity; who is calling comes only \
                 from the verified token, as the `Caller` every tool receives. Use that, or \
                 rename the argument if it means someone else"
            )));
        }
    }
    Ok(())
}
