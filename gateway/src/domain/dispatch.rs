//! Serving domain tools: their definitions in `tools/list`, and every call
//! through the same steps, which no tool can skip: the session gate, the
//! kit's own arguments taken out, the typed arguments, the body (an action
//! once per idempotency key), the reminder on the result, and the failure
//! told to the model with its code.

use std::{collections::HashMap, sync::Arc};

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::{
    AppDb, Caller, DomainError, Failure,
    actions::{self, ActionEnd},
    answer::{ObjectJson, WrittenOnce},
    registry::{
        self, BoxFuture, DomainTools, IDEMPOTENCY_KEY, Invocation, Kind, Outcome, Registered,
        RegistryError, SESSION, Tools,
    },
};
use crate::{
    identity::Identity,
    session::{SessionError, SessionSigner},
    tool_schema,
    tools::ToolFailure,
};

/// Longest idempotency key accepted.
const MAX_KEY_CHARS: usize = 200;

type Call = Arc<dyn Fn(Invocation) -> BoxFuture<Result<ObjectJson, Outcome>> + Send + Sync>;

struct Entry {
    definition: Tool,
    kind: Kind,
    call: Call,
}

type Block = Arc<dyn Fn(Caller) -> BoxFuture<Result<Value, Outcome>> + Send + Sync>;

/// Every domain tool of the app, checked and ready to serve.
#[derive(Default)]
pub(crate) struct Domain {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    /// What the domains add to `begin_session`.
    blocks: Vec<Block>,
    /// The schemas of the fields they add, by name (references inlined).
    session_fields: JsonObject,
    db: Option<AppDb>,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.definition.name))
            .finish()
    }
}

impl Domain {
    /// Adds `state`'s tools, refusing any that breaks the kit's rules.
    /// `taken` are the kit's own tool names.
    pub(crate) fn add<S: DomainTools>(
        &mut self,
        state: S,
        taken: &[String],
    ) -> Result<(), RegistryError> {
        let mut tools = Tools::<S>::new();
        S::register(&mut tools);
        let state = Arc::new(state);
        for block in tools.session_blocks {
            let refuse = |problem: String| RegistryError {
                tool: "begin_session".into(),
                problem,
            };
            let schema = block.schema.map_err(refuse)?;
            let fields = tool_schema::properties(&schema);
            for (name, field) in fields {
                if self.session_fields.contains_key(&name) {
                    return Err(refuse(format!(
                        "two domains add the field `{name}` to begin_session's answer; \
                         one would hide the other, so rename one"
                    )));
                }
                self.session_fields.insert(name, field);
            }
            let (state, make) = (state.clone(), block.make);
            self.blocks
                .push(Arc::new(move |caller| make(state.clone(), caller)));
        }
        let mut names: Vec<String> = taken.to_vec();
        names.extend(self.entries.iter().map(|e| e.definition.name.to_string()));
        for tool in tools.tools {
            registry::check(&tool, &names)?;
            if tool.kind == Kind::Action {
                let problem = match &self.db {
                    None => Some("actions keep their outcomes in the database; this app has none"),
                    Some(db) if db.behind_transaction_pooler() => Some(
                        "actions run in transactions on a connection that keeps its session; \
                         DATABASE_URL is a transaction-mode pooler: use the direct endpoint \
                         (docs/postgres.md)",
                    ),
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    return Err(RegistryError {
                        tool: tool.name,
                        problem: problem.into(),
                    });
                }
            }
            names.push(tool.name.clone());
            let definition = definition(&tool);
            let (kind, handler, state) = (tool.kind, tool.handler, state.clone());
            let call: Call = Arc::new(move |invocation| handler(state.clone(), invocation));
            self.by_name
                .insert(definition.name.to_string(), self.entries.len());
            self.entries.push(Entry {
                definition,
                kind,
                call,
            });
        }
        Ok(())
    }

    /// The fields the domains add to `begin_session` for `who`, if any.
    pub(crate) async fn session_block(
        &self,
        who: &Arc<Identity>,
    ) -> Result<Option<JsonObject>, ToolFailure> {
        if self.blocks.is_empty() {
            return Ok(None);
        }
        let mut fields = JsonObject::new();
        for block in &self.blocks {
            match block(Caller::from_identity(who)).await.map_err(failure)? {
                Value::Object(more) => fields.extend(more),
                _ => {
                    return Err(ToolFailure::Refused {
                        code: "INTERNAL_ERROR".into(),
                        message: "the app's begin_session fields are not an object".into(),
                    });
                }
            }
        }
        Ok(Some(fields))
    }

    /// The schemas of the fields the domains add to `begin_session`, by
    /// name; empty when they add none.
    pub(crate) fn session_fields(&self) -> &JsonObject {
        &self.session_fields
    }

    pub(crate) fn with_db(db: Option<AppDb>) -> Self {
        Self {
            db,
            ..Self::default()
        }
    }

    pub(crate) fn definitions(&self) -> impl Iterator<Item = &Tool> {
        self.entries.iter().map(|e| &e.definition)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Tool> {
        self.by_name.get(name).map(|&i| &self.entries[i].definition)
    }

    /// One call of the domain tool `name` by the verified `who`. Always a
    /// tool result: failures are told to the model, not raised. With
    /// `once`, a success is its answer's text alone ([`ObjectJson::into_result`]).
    /// `reminder_json` is the rules reminder written as a JSON string.
    pub(crate) async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        who: &Arc<Identity>,
        sessions: &SessionSigner,
        reminder_json: &str,
        once: Option<&WrittenOnce>,
    ) -> Option<CallToolResult> {
        let entry = &self.entries[*self.by_name.get(name)?];
        let result = self
            .run(entry, arguments.unwrap_or_default(), who, sessions)
            .await;
        Some(match result {
            Ok(answer) => answer.with_reminder(reminder_json).into_result(once),
            Err(failure) => CallToolResult::error(vec![ContentBlock::text(failure.message())]),
        })
    }

    async fn run(
        &self,
        entry: &Entry,
        mut args: JsonObject,
        who: &Arc<Identity>,
        sessions: &SessionSigner,
    ) -> Result<ObjectJson, ToolFailure> {
        // The gate comes first: without a valid session the body never runs.
        let session = match args.remove(SESSION) {
            Some(Value::String(token)) => token,
            Some(_) => return Err(ToolFailure::Session(SessionError::Malformed)),
            None => return Err(ToolFailure::Session(SessionError::Missing)),
        };
        sessions
            .check(&session, who, chrono::Utc::now().timestamp())
            .map_err(ToolFailure::Session)?;
        let caller = Caller::from_identity(who);
        match entry.kind {
            Kind::Query => {
                let invocation = Invocation {
                    caller,
                    args: Value::Object(args),
                    tx: None,
                };
                (entry.call)(invocation).await.map_err(failure)
            }
            Kind::Action => {
                let key = idempotency_key(args.remove(IDEMPOTENCY_KEY))?;
                let Some(db) = &self.db else {
                    unreachable!("actions are refused at start without a database")
                };
                let call = entry.call.clone();
                let end = actions::run_once(
                    db,
                    &entry.definition.name,
                    &key,
                    caller,
                    Value::Object(args),
                    |invocation| call(invocation),
                )
                .await;
                match end {
                    ActionEnd::Done(value) => Ok(value),
                    ActionEnd::Failed(outcome) => Err(failure(outcome)),
                    ActionEnd::KeyReused => Err(ToolFailure::BadInput(format!(
                        "this `{IDEMPOTENCY_KEY}` was used before with other arguments; use a \
                         new key for a new action, or the same arguments to get the first outcome"
                    ))),
                }
            }
        }
    }
}

fn idempotency_key(value: Option<Value>) -> Result<String, ToolFailure> {
    match value {
        Some(Value::String(key))
            if !key.trim().is_empty()
                && key.chars().count() <= MAX_KEY_CHARS
                && !key.chars().any(char::is_control) =>
        {
            Ok(key)
        }
        _ => Err(ToolFailure::BadInput(format!(
            "`{IDEMPOTENCY_KEY}` is required: a new unique string (a UUID) for each action you \
             mean to take, 1 to {MAX_KEY_CHARS} characters; send the same one again only to \
             retry that same action"
        ))),
    }
}

fn failure(outcome: Outcome) -> ToolFailure {
    match outcome {
        Outcome::BadArguments(problem) => ToolFailure::BadInput(format!(
            "the arguments do not fit the tool's input schema: {problem}"
        )),
        Outcome::Domain(DomainError(error)) => match error {
            Failure::NotFound { noun, id, hint } => ToolFailure::NotFound { noun, id, hint },
            Failure::Refused { code, message } => ToolFailure::Refused { code, message },
            Failure::Invalid(problem) => ToolFailure::BadInput(problem),
            Failure::Store(e) => ToolFailure::from(crate::store::StoreError::Database(e)),
        },
    }
}

/// The definition hosts see: the author's arguments plus the kit's, the
/// result with its reminder, and annotations from the tool's kind.
fn definition<S>(tool: &Registered<S>) -> Tool {
    let mut input = tool
        .input
        .as_deref()
        .cloned()
        .unwrap_or_else(|_| unreachable!("checked before"));
    let mut kit = vec![(
        SESSION,
        json!({"type": "string", "description": "The `session` value returned by `begin_session`."}),
    )];
    if tool.kind == Kind::Action {
        kit.push((
            IDEMPOTENCY_KEY,
            json!({"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS,
                   "description": "A new unique value (a UUID) for this action. Retrying with the same key never acts twice: it returns the first outcome."}),
        ));
    }
    let properties = input
        .entry("properties")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    if let Value::Object(properties) = properties {
        for (name, schema) in &kit {
            properties.insert((*name).into(), schema.clone());
        }
    }
    let required = input
        .entry("required")
        .or_insert_with(|| Value::Array(vec![]));
    if let Value::Array(required) = required {
        for (name, _) in &kit {
            required.push(Value::String((*name).into()));
        }
    }
    let output = tool
        .output
        .as_deref()
        .cloned()
        .unwrap_or_else(|_| unreachable!("checked before"));
    let query = tool.kind == Kind::Query;
    let annotations = ToolAnnotations::new()
        .read_only(query)
        .destructive(!query && tool.options.destructive)
        // An action with the same arguments (its key included) acts once.
        .idempotent(true)
        .open_world(tool.options.open_world);
    let mut definition = Tool::new(tool.name.clone(), tool.description.clone(), input)
        .with_title(tool.title.clone())
        .with_raw_output_schema(Arc::new(output))
        .with_annotations(annotations);
    tool_schema::for_the_wire(&mut definition);
    definition
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::domain::{NoArgs, Tx};

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct ForUser {
        user_id: String,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Lenient {
        id: String,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct WithSession {
        session: String,
    }

    #[derive(Debug, Serialize, JsonSchema)]
    struct Done {
        ok: bool,
    }

    const TITLE: &str = "A title";
    const ABOUT: &str = "What it does.";

    /// A domain of one tool: `case!(Name, tools => tools.query(…))`.
    macro_rules! case {
        ($name:ident, $tools:ident => $register:expr) => {
            struct $name;
            impl DomainTools for $name {
                fn register($tools: &mut Tools<Self>) {
                    $register;
                }
            }
        };
    }

    case!(Identity, t => t.query("domain_for", TITLE, ABOUT,
        |_: Arc<Identity>, _: Caller, a: ForUser| async move { Ok(Done { ok: !a.user_id.is_empty() }) }));
    case!(LenientArgs, t => t.query("domain_lenient", TITLE, ABOUT,
        |_: Arc<LenientArgs>, _: Caller, a: Lenient| async move { Ok(Done { ok: !a.id.is_empty() }) }));
    case!(KitArgument, t => t.query("domain_session", TITLE, ABOUT,
        |_: Arc<KitArgument>, _: Caller, a: WithSession| async move { Ok(Done { ok: !a.session.is_empty() }) }));
    case!(NoPrefix, t => t.query("search", TITLE, ABOUT,
        |_: Arc<NoPrefix>, _: Caller, _: NoArgs| async { Ok(Done { ok: true }) }));
    case!(Clash, t => t.query("user_get_state", TITLE, ABOUT,
        |_: Arc<Clash>, _: Caller, _: NoArgs| async { Ok(Done { ok: true }) }));
    case!(ListResult, t => t.query("domain_list", TITLE, ABOUT,
        |_: Arc<ListResult>, _: Caller, _: NoArgs| async { Ok(Vec::<Done>::new()) }));
    case!(NoTitle, t => t.query("domain_untitled", " ", ABOUT,
        |_: Arc<NoTitle>, _: Caller, _: NoArgs| async { Ok(Done { ok: true }) }));
    case!(ActionWithoutDb, t => t.action("domain_act", TITLE, ABOUT,
        |_: Arc<ActionWithoutDb>, _: Caller, _: NoArgs, _: Tx| async { Ok(Done { ok: true }) }));
    #[derive(Debug, Serialize, JsonSchema)]
    struct Reminds {
        reminder: String,
    }
    case!(OwnReminder, t => t.query("domain_reminds", TITLE, ABOUT,
        |_: Arc<OwnReminder>, _: Caller, _: NoArgs| async { Ok(Reminds { reminder: String::new() }) }));
    case!(Fine, t => t.query("domain_fine", TITLE, ABOUT,
        |_: Arc<Fine>, _: Caller, _: NoArgs| async { Ok(Done { ok: true }) }));

    /// What the kit says of `state`'s tools at start: `accepted` or why not.
    fn verdict<S: DomainTools>(state: S) -> String {
        let mut domain = Domain::with_db(None);
        let kit = ["user_get_state".to_owned(), "begin_session".to_owned()];
        match domain.add(state, &kit) {
            Ok(()) => "accepted".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_tool_that_breaks_a_rule_stops_the_app_and_says_which_and_why() {
        for (verdict, expected) in [
            (
                verdict(Identity),
                "`user_id` looks like the caller's identity",
            ),
            (verdict(LenientArgs), "deny_unknown_fields"),
            (verdict(KitArgument), "`session` is the kit's argument"),
            (verdict(NoPrefix), "`domain_…`"),
            (verdict(Clash), "already taken"),
            (verdict(ListResult), "must be a struct"),
            (verdict(NoTitle), "give it a title"),
            (verdict(ActionWithoutDb), "keep their outcomes"),
            (verdict(OwnReminder), "has a `reminder` field"),
        ] {
            assert!(verdict.starts_with("domain tool `"), "{verdict}");
            assert!(verdict.contains(expected), "{verdict} lacks {expected}");
        }
        assert_eq!(verdict(Fine), "accepted");
    }

    #[derive(Debug, Serialize, JsonSchema)]
    struct Welcome {
        /// What to say first.
        greeting: Done,
    }

    case!(Greets, t => t.begin_session_adds(
        |_: Arc<Greets>, _: Caller| async { Ok(Welcome { greeting: Done { ok: true } }) }));
    case!(GreetsToo, t => t.begin_session_adds(
        |_: Arc<GreetsToo>, _: Caller| async { Ok(Welcome { greeting: Done { ok: false } }) }));
    case!(GreetsWithAList, t => t.begin_session_adds(
        |_: Arc<GreetsWithAList>, _: Caller| async { Ok(vec![1]) }));

    #[test]
    fn what_begin_session_gains_is_published_and_never_hidden_by_another_domain() {
        let mut domain = Domain::with_db(None);
        domain.add(Greets, &[]).expect("one domain's fields");
        let greeting = &domain.session_fields()["greeting"];
        assert_eq!(greeting["description"], "What to say first.");
        assert_eq!(
            greeting["properties"]["ok"]["type"], "boolean",
            "{greeting}"
        );

        let clash = domain.add(GreetsToo, &[]).expect_err("refused").to_string();
        assert!(
            clash.contains("two domains add the field `greeting`"),
            "{clash}"
        );
        let list = verdict(GreetsWithAList);
        assert!(list.contains("must be a struct"), "{list}");
    }
}
