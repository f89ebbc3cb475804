//! `devkit call <tool> [json]`: one tool call from the terminal, made the
//! way a host makes it. It signs in (a token minted with the local issuer's
//! key for exactly the audience and issuer the connector announces, or
//! `--token`), begins a session through a real MCP client, calls the tool
//! with the session filled in and prints the structured result.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use mock_issuer::{
    keys::{KEY_FILE, KeyRing},
    tokens::{self, TokenRequest},
};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, Tool},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Map, Value};
use url::Url;

#[derive(Debug, Clone, clap::Args)]
pub struct CallArgs {
    /// The tool to call, for example `domain_search`.
    #[arg(required_unless_present = "list")]
    pub tool: Option<String>,

    /// Its arguments, a JSON object: '{"query": "maps"}'. `session` is filled in.
    pub arguments: Option<String>,

    /// List the tools and their arguments instead of calling one.
    #[arg(long, conflicts_with_all = ["tool", "arguments"])]
    pub list: bool,

    /// Sign in as this user: the token's `sub`.
    #[arg(long = "as", value_name = "USER", default_value = "devkit-user")]
    pub user: String,

    /// The connector URL.
    #[arg(long, default_value = "http://127.0.0.1:8000/mcp")]
    pub url: Url,

    /// Call with this access token instead of one minted with the local issuer's key.
    #[arg(long, env = "DEVKIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// The local issuer's state folder (where its signing key lives).
    #[arg(long, env = "ISSUER_STATE_DIR", default_value = ".devkit/issuer")]
    pub state_dir: PathBuf,
}

/// What the connector announces about itself (RFC 9728).
#[derive(Debug, serde::Deserialize)]
struct ResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

/// Runs the call (or the listing) and returns what to print on stdout.
pub async fn call(args: &CallArgs) -> anyhow::Result<String> {
    let arguments = match &args.arguments {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => bail!(
                "the arguments must be a JSON object, like '{{\"query\": \"maps\"}}', not {other}"
            ),
            Err(e) => bail!("the arguments are not JSON ({e}): {text}"),
        },
    };
    let token = match &args.token {
        Some(token) => token.clone(),
        None => mint_for(args).await?,
    };
    let config =
        StreamableHttpClientTransportConfig::with_uri(args.url.as_str()).auth_header(token.clone());
    let client = match ().serve(StreamableHttpClientTransport::from_config(config)).await {
        Ok(client) => client,
        Err(error) => {
            // rmcp says only "Auth required"; the connector's answer says why.
            if let Some(refusal) = refusal(&args.url, &token).await {
                bail!("{} refused the access token: {refusal}", args.url);
            }
            return Err(anyhow!(error))
                .with_context(|| format!("cannot connect to {} as an MCP client", args.url));
        }
    };
    let result = session_then(&client, args, arguments).await;
    let _ = client.cancel().await;
    result
}

async fn session_then(
    client: &RunningService<RoleClient, ()>,
    args: &CallArgs,
    mut arguments: Map<String, Value>,
) -> anyhow::Result<String> {
    let tools = client.list_all_tools().await.context("tools/list failed")?;
    if args.list {
        return Ok(listing(&tools));
    }
    let name = args.tool.as_deref().unwrap_or_default();
    let Some(tool) = tools.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        bail!(
            "there is no tool `{name}`; the tools are: {}",
            names.join(", ")
        );
    };
    let wants = |field: &str| {
        tool.input_schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.contains_key(field))
    };
    if wants("session") && !arguments.contains_key("session") {
        let start = outcome(
            "begin_session",
            client
                .call_tool(CallToolRequestParams::new("begin_session"))
                .await?,
        )?;
        let session = start["session"]
            .as_str()
            .context("begin_session returned no session")?;
        arguments.insert("session".into(), session.into());
    }
    if wants("idempotency_key") && !arguments.contains_key("idempotency_key") {
        // A new key: this is a new action, not a retry of an earlier one.
        let key = format!("devkit-call-{}", tokens::random_token(9));
        eprintln!("devkit: idempotency_key {key} (pass it again to retry this very action)");
        arguments.insert("idempotency_key".into(), key.into());
    }
    let result = client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
        .await?;
    let value = outcome(name, result)?;
    Ok(serde_json::to_string_pretty(&value)?)
}

/// A token for `args.user`, signed with the local issuer's key, for the
/// audience and issuer the connector names in its metadata.
async fn mint_for(args: &CallArgs) -> anyhow::Result<String> {
    let mut metadata_url = args.url.clone();
    metadata_url.set_path(&format!(
        "/.well-known/oauth-protected-resource{}",
        args.url.path().trim_end_matches('/')
    ));
    let metadata: ResourceMetadata = reqwest::get(metadata_url.as_str())
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot reach {metadata_url}: is `devkit up` running there?"))?
        .json()
        .await
        .with_context(|| format!("{metadata_url} is not protected-resource metadata"))?;
    let issuer = metadata.authorization_servers.first().ok_or_else(|| {
        anyhow!("{metadata_url} names no authorization server: sign-in is off, or pass --token")
    })?;
    let now = chrono::Utc::now().timestamp();
    let ring = KeyRing::load(&args.state_dir.join(KEY_FILE), now).with_context(|| {
        format!(
            "no local issuer key in {}: run this where `devkit up` runs, or pass --token",
            args.state_dir.display()
        )
    })?;
    let scope = metadata.scopes_supported.join(" ");
    let request = TokenRequest {
        issuer,
        sub: &args.user,
        email: None,
        audience: &metadata.resource,
        scope: &scope,
        client_id: "devkit-call",
        lifetime: 600,
    };
    tokens::mint(ring.current(), &request, now).context("cannot sign the token")
}

/// Why the connector refuses `token`, from its own answer (status and
/// `error_description`), when it does.
async fn refusal(url: &Url, token: &str) -> Option<String> {
    let answer = reqwest::Client::new()
        .post(url.as_str())
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .ok()?;
    let status = answer.status();
    if !matches!(status.as_u16(), 401 | 403) {
        return None;
    }
    let body: Value = answer.json().await.unwrap_or_default();
    let why = body["error_description"]
        .as_str()
        .unwrap_or("no reason given");
    Some(format!("{} {why}", status.as_u16()))
}

/// The structured result of a call, or its error text as the error.
fn outcome(tool: &str, result: CallToolResult) -> anyhow::Result<Value> {
    let text = || {
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if result.is_error == Some(true) {
        bail!("{tool} failed: {}", text());
    }
    Ok(result
        .structured_content
        .clone()
        .unwrap_or_else(|| Value::String(text())))
}

/// One paragraph per tool: its name and title, then each argument the
/// caller gives (the kit fills in `session`), with its type and description.
fn listing(tools: &[Tool]) -> String {
    let mut out = String::new();
    for tool in tools {
        let title = tool
            .annotations
            .as_ref()
            .and_then(|a| a.title.as_deref())
            .or(tool.title.as_deref())
            .unwrap_or_default();
        out.push_str(&format!("{}  {title}\n", tool.name));
        let properties = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object);
        let required: Vec<&str> = tool
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, schema) in properties.into_iter().flatten() {
            if name == "session" {
                continue;
            }
            let kind = schema
                .get("type")
                .map(|t| match t {
                    Value::Array(kinds) => kinds
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|k| *k != "null")
                        .collect::<Vec<_>>()
                        .join("|"),
                    other => other.as_str().unwrap_or("any").to_owned(),
                })
                .unwrap_or_else(|| "any".into());
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            let about = schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.push_str(&format!("    {name}{optional}: {kind}  {about}\n"));
        }
    }
    out.trim_end().to_owned()
}
