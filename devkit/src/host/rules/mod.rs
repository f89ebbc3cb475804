//! What a host needs of a connector and its issuer, decided from what was
//! fetched. Plain inputs (URLs, status codes, body text) in, doctor lines
//! out; nothing here does I/O ([`super::probe`] fetches).
//!
//! The rules, and where they come from:
//! - the connector URL is public https on port 443, or loopback http for
//!   local use (Claude Code, the MCP Inspector);
//! - RFC 9728: the protected-resource metadata is served at the root and at
//!   the path-inserted location, and its `resource` is the URL exactly;
//! - RFC 8414 / OIDC Discovery: the issuer's metadata names the configured
//!   issuer exactly (`iss` is compared as a string, trailing slash included);
//! - how the host gets a client: a client ID metadata document (CIMD, with
//!   token auth method `none`) or dynamic client registration (RFC 7591);
//! - PKCE S256 advertised (MCP hosts refuse to sign in otherwise), RFC 9207
//!   `iss` in authorization responses, and RFC 6749 §5.2 JSON token errors.
//!
//! The connector's lines are here; the issuer's are in [`issuer`].

mod issuer;

use serde_json::{Map, Value};
use url::Url;

use super::Host;
use crate::doctor::{Check, Verdict, check};

/// The one redirect URI ChatGPT's connectors sign in with.
pub const CHATGPT_REDIRECT: &str = "https://chatgpt.com/connector_platform_oauth_redirect";

/// RFC 9728 §3: the well-known segment of protected-resource metadata.
const RESOURCE_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What one request came back with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Nothing answers there: connection refused, no such name, timed out.
    Unreachable(String),
    /// Something answered, but the exchange broke (TLS, a cut connection).
    Failed(String),
    /// An HTTP answer.
    Http(Reply),
}

/// An HTTP answer, its body cut to a bound and read as UTF-8.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    /// Where a redirect points (redirects are shown, not followed).
    pub location: Option<String>,
    pub body: String,
}

/// Whose issuer is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerSource {
    /// `authorization_servers[0]` of the running connector's metadata.
    Connector,
    /// `AUTH_ISSUER`, because the connector could not be asked.
    Settings,
}

/// Everything fetched, for [`findings`].
#[derive(Debug, Clone)]
pub struct Observed {
    pub connector: Url,
    /// `AUTH_AUDIENCE`, when set.
    pub audience: Option<String>,
    /// The metadata at `/.well-known/oauth-protected-resource`.
    pub resource_root: Answer,
    /// The metadata at the path-inserted location; `None` when the URL has no path.
    pub resource_path: Option<Answer>,
    /// `None` when there is no issuer to check (see [`issuer_to_check`]).
    pub issuer: Option<IssuerObserved>,
}

/// What the issuer answered.
#[derive(Debug, Clone)]
pub struct IssuerObserved {
    /// The issuer identifier as configured.
    pub id: String,
    pub source: IssuerSource,
    /// The discovery URLs asked, in order, each with its answer; asking
    /// stops at the first JSON document.
    pub discovery: Vec<(Url, Answer)>,
    /// The token endpoint's answer to a made-up code, when the metadata names one.
    pub token_error: Option<Answer>,
}

impl Observed {
    /// True when a connector's metadata was served at the URL's origin.
    pub fn connector_answered(&self) -> bool {
        json_object(&self.resource_root).is_ok()
    }
}

/// The two RFC 9728 §3.1 locations of the metadata for `connector`: the
/// root, and the well-known segment inserted before the URL's path (`None`
/// when the path is `/`).
pub fn resource_metadata_urls(connector: &Url) -> (Url, Option<Url>) {
    let at = |path: &str| {
        let mut url = connector.clone();
        url.set_path(path);
        url.set_query(None);
        url.set_fragment(None);
        url
    };
    let root = at(RESOURCE_WELL_KNOWN);
    let inserted = match connector.path() {
        "" | "/" => None,
        path => Some(at(&format!("{RESOURCE_WELL_KNOWN}{path}"))),
    };
    (root, inserted)
}

/// The issuer to check: the one the running connector names, else
/// `AUTH_ISSUER` when the connector gave no metadata (not running, or
/// broken). A connector that serves metadata naming no issuer runs without
/// sign-in: there is nothing to check.
pub fn issuer_to_check(
    resource_root: &Answer,
    resource_path: Option<&Answer>,
    configured: Option<&str>,
) -> Option<(String, IssuerSource)> {
    // The path-inserted document is the one the 401 challenge points at.
    let document = resource_path
        .and_then(|a| json_object(a).ok())
        .or_else(|| json_object(resource_root).ok());
    match document {
        Some(doc) => doc
            .get("authorization_servers")
            .and_then(Value::as_array)
            .and_then(|servers| servers.first())
            .and_then(Value::as_str)
            .map(|issuer| (issuer.to_owned(), IssuerSource::Connector)),
        None => configured.map(|issuer| (issuer.to_owned(), IssuerSource::Settings)),
    }
}

/// Where the issuer's metadata is looked for, in the gateway's order:
/// RFC 8414 §3.1 (well-known segment inserted before the issuer's path),
/// then OpenID Connect Discovery §4 (appended).
pub fn discovery_urls(issuer: &str) -> Result<Vec<Url>, String> {
    let url = Url::parse(issuer).map_err(|e| format!("`{}` is not a URL: {e}", shown(issuer)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}` is not an http(s) URL", shown(issuer)));
    }
    let path = url.path().trim_end_matches('/');
    let at = |p: String| {
        let mut u = url.clone();
        u.set_path(&p);
        u.set_query(None);
        u.set_fragment(None);
        u
    };
    Ok(vec![
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("{path}/.well-known/openid-configuration")),
    ])
}

/// The token endpoint named by the first metadata document found, if any.
pub fn token_endpoint(discovery: &[(Url, Answer)]) -> Option<Url> {
    let (_, doc) = first_document(discovery)?;
    Url::parse(str_field(&doc, "token_endpoint")?).ok()
}

/// The lines for everything observed.
pub fn findings(host: Host, seen: &Observed) -> Vec<Check> {
    let mut lines = vec![
        connector_line(host, &seen.connector),
        audience_line(&seen.connector, seen.audience.as_deref()),
        resource_line(
            &seen.connector,
            &seen.resource_root,
            seen.resource_path.as_ref(),
        ),
    ];
    match &seen.issuer {
        Some(issuer) => lines.extend(issuer::lines(host, issuer)),
        None => lines.push(no_issuer_line(seen)),
    }
    lines
}

fn connector_line(host: Host, url: &Url) -> Check {
    const WHAT: &str = "connector";
    let shown_url = display_url(url);
    match (url.scheme(), url.port_or_known_default()) {
        ("https", Some(443)) => check(
            WHAT,
            Verdict::Ok,
            format!("{shown_url} is https on port 443"),
        ),
        // Loopback http is for this machine: Claude Code and the MCP
        // Inspector use it. Hosts in the cloud can never reach it.
        ("http", _) if is_loopback(url) => match host {
            Host::Any => check(
                WHAT,
                Verdict::Note,
                format!(
                    "{shown_url} is local-only (loopback http): fine for Claude Code and the MCP \
                     Inspector; claude.ai and ChatGPT need the public https URL `devkit up` prints \
                     (check it with --url URL --host claude)"
                ),
            ),
            Host::Claude | Host::Chatgpt => check(
                WHAT,
                Verdict::Fail,
                format!(
                    "{shown_url} is loopback http, which {} cannot reach: use the public https URL \
                     (run `devkit up` with its tunnel and pass the Connector URL it prints with --url, \
                     or set RESOURCE_URL to your https URL)",
                    host.name()
                ),
            ),
        },
        ("http", _) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "{shown_url} is plain http: hosts send tokens over https only; serve it as https://{}{} on port 443",
                url.host_str().unwrap_or_default(),
                url.path()
            ),
        ),
        ("https", Some(port)) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "{shown_url} is on port {port}: hosts expect https on port 443; serve it on 443 and drop `:{port}`"
            ),
        ),
        (scheme, _) => check(
            WHAT,
            Verdict::Fail,
            format!("{shown_url} is a {scheme} URL: use the https URL of /mcp"),
        ),
    }
}

fn audience_line(url: &Url, audience: Option<&str>) -> Check {
    const WHAT: &str = "audience";
    let shown_url = display_url(url);
    match audience {
        None => check(
            WHAT,
            Verdict::Ok,
            "AUTH_AUDIENCE not set: tokens must name the resource URL, as hosts ask (RFC 8707)",
        ),
        Some(aud) if aud == url.as_str() => check(
            WHAT,
            Verdict::Ok,
            format!("AUTH_AUDIENCE is the connector URL {shown_url}"),
        ),
        Some(aud) if differ_by_slash(aud, url.as_str()) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "AUTH_AUDIENCE `{}` and the connector URL {shown_url} differ by a trailing slash, \
                 and `aud` is compared exactly: set AUTH_AUDIENCE={shown_url}, or remove the line",
                shown(aud)
            ),
        ),
        // A hosted issuer may use an API identifier of its own as `aud`.
        Some(aud) => check(
            WHAT,
            Verdict::Note,
            format!(
                "AUTH_AUDIENCE `{}` is not the connector URL {shown_url}: hosts ask for tokens for \
                 the connector URL (RFC 8707), so the issuer must map that to `{}`; if it does not, \
                 remove AUTH_AUDIENCE",
                shown(aud),
                shown(aud)
            ),
        ),
    }
}

fn resource_line(url: &Url, root: &Answer, path: Option<&Answer>) -> Check {
    const WHAT: &str = "resource meta";
    if let Answer::Unreachable(why) = root {
        return check(
            WHAT,
            Verdict::Note,
            format!(
                "nothing answers at {} ({why}), so the connector is not running there: start it \
                 with `devkit up` (or `devkit up --no-tunnel` for this machine), then run doctor \
                 again with the URL it prints (--url)",
                url.origin().ascii_serialization()
            ),
        );
    }
    if let Answer::Failed(why) = root {
        return check(
            WHAT,
            Verdict::Fail,
            format!(
                "{} answers, but the exchange broke ({why}); hosts would fail the same way: check \
                 its https certificate and any proxy in front of the gateway",
                url.origin().ascii_serialization()
            ),
        );
    }
    let (root_url, path_url) = resource_metadata_urls(url);
    let shown_url = display_url(url);
    // (what is wrong, what to change, where): one location or both.
    let mut problems: Vec<(String, String, Vec<&str>)> = Vec::new();
    let locations = std::iter::once((&root_url, Some(root)))
        .chain(path_url.as_ref().map(|u| (u, path)))
        .filter_map(|(u, a)| Some((u.path(), a?)));
    for (at, answer) in locations {
        let (wrong, fix) = match json_object(answer) {
            Err(e) => (
                e,
                "serve the document there too (RFC 9728 §3.1; check any proxy in front of the \
                 gateway)"
                    .to_owned(),
            ),
            Ok(doc) => match str_field(&doc, "resource") {
                Some(resource) if resource == url.as_str() => continue,
                Some(resource) => (
                    format!(
                        "names resource `{}`, not {shown_url}{}",
                        shown(resource),
                        if differ_by_slash(resource, url.as_str()) {
                            " (a trailing slash differs)"
                        } else {
                            ""
                        }
                    ),
                    format!(
                        "hosts compare the two exactly: set RESOURCE_URL={shown_url}, or check \
                         the URL hosts are given with --url"
                    ),
                ),
                None => (
                    "has no `resource`".to_owned(),
                    "name the `resource` in it (RFC 9728 §2)".to_owned(),
                ),
            },
        };
        match problems
            .iter_mut()
            .find(|(w, f, _)| *w == wrong && *f == fix)
        {
            Some((_, _, places)) => places.push(at),
            None => problems.push((wrong, fix, vec![at])),
        }
    }
    if problems.is_empty() {
        let served = match &path_url {
            Some(p) => format!("{RESOURCE_WELL_KNOWN} and {}", p.path()),
            None => RESOURCE_WELL_KNOWN.to_owned(),
        };
        return check(
            WHAT,
            Verdict::Ok,
            format!("served at {served}, resource is exactly {shown_url}"),
        );
    }
    let text: Vec<String> = problems
        .iter()
        .map(|(wrong, fix, places)| format!("{} {wrong}: {fix}", places.join(" and ")))
        .collect();
    check(WHAT, Verdict::Fail, text.join("; "))
}

fn no_issuer_line(seen: &Observed) -> Check {
    if seen.connector_answered() {
        check(
            "issuer",
            Verdict::Note,
            "the connector names no authorization server, so it runs without sign-in \
             (AUTH_DISABLED): any caller is the one stand-in user; set AUTH_ISSUER for sign-in",
        )
    } else {
        check(
            "issuer",
            Verdict::Note,
            "nothing to check: the connector gave no metadata naming one, and AUTH_ISSUER is not set",
        )
    }
}

/// The first answer in `discovery` that is a JSON object, with its URL.
fn first_document(discovery: &[(Url, Answer)]) -> Option<(&Url, Map<String, Value>)> {
    discovery
        .iter()
        .find_map(|(url, answer)| json_object(answer).ok().map(|doc| (url, doc)))
}

/// A 200 answer holding a JSON object, or what it was instead.
pub fn json_object(answer: &Answer) -> Result<Map<String, Value>, String> {
    match answer {
        Answer::Unreachable(why) => Err(format!("not reachable: {why}")),
        Answer::Failed(why) => Err(why.clone()),
        Answer::Http(reply) if (300..400).contains(&reply.status) => Err(format!(
            "answered {} redirecting to {} (redirects are not followed)",
            reply.status,
            shown(reply.location.as_deref().unwrap_or("nowhere"))
        )),
        Answer::Http(reply) if reply.status != 200 => Err(format!("answered {}", reply.status)),
        Answer::Http(reply) => match serde_json::from_str(&reply.body) {
            Ok(Value::Object(doc)) => Ok(doc),
            _ => Err("is not a JSON object".to_owned()),
        },
    }
}

fn str_field<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

fn is_true(doc: &Map<String, Value>, key: &str) -> bool {
    doc.get(key) == Some(&Value::Bool(true))
}

fn list_has(doc: &Map<String, Value>, key: &str, item: &str) -> bool {
    doc.get(key)
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|v| v.as_str() == Some(item)))
}

fn differ_by_slash(a: &str, b: &str) -> bool {
    a != b && a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Loopback by address, or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// A URL for a terminal line: any user name or password in it left out.
pub fn display_url(url: &Url) -> String {
    let mut shown_url = url.clone();
    let _ = shown_url.set_username("");
    let _ = shown_url.set_password(None);
    shown_url.to_string()
}

/// Text a server sent, safe for a terminal line: control characters
/// (escape sequences) replaced and the length bounded.
pub fn shown(text: &str) -> String {
    const MAX: usize = 120;
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Inputs shared by the tests of [`self`] and [`issuer`].
#[cfg(test)]
mod fixtures {
    use serde_json::json;

    use super::*;

    pub(super) const CONNECTOR: &str = "https://app.example.com/mcp";
    pub(super) const ISSUER: &str = "https://auth.example.com";

    pub(super) fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    pub(super) fn json(status: u16, body: &Value) -> Answer {
        Answer::Http(Reply {
            status,
            content_type: Some("application/json".into()),
            location: None,
            body: body.to_string(),
        })
    }

    pub(super) fn prm(resource: &str) -> Answer {
        json(
            200,
            &json!({"resource": resource, "authorization_servers": [ISSUER]}),
        )
    }

    /// What the mock issuer advertises.
    pub(super) fn good_metadata() -> Value {
        json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/oauth/authorize"),
            "token_endpoint": format!("{ISSUER}/oauth/token"),
            "registration_endpoint": format!("{ISSUER}/oauth/register"),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        })
    }

    pub(super) fn without(mut doc: Value, keys: &[&str]) -> Value {
        for key in keys {
            doc.as_object_mut().expect("object").remove(*key);
        }
        doc
    }

    pub(super) fn token_json_error() -> Answer {
        json(
            400,
            &json!({"error": "invalid_grant", "error_description": "unknown code"}),
        )
    }

    pub(super) fn observed(connector: &str, metadata: Value) -> Observed {
        let connector = url(connector);
        let (_, path) = resource_metadata_urls(&connector);
        let discovery = discovery_urls(ISSUER).expect("urls");
        Observed {
            resource_root: prm(connector.as_str()),
            resource_path: path.map(|_| prm(connector.as_str())),
            connector,
            audience: None,
            issuer: Some(IssuerObserved {
                id: ISSUER.into(),
                source: IssuerSource::Connector,
                discovery: vec![(discovery[0].clone(), json(200, &metadata))],
                token_error: Some(token_json_error()),
            }),
        }
    }

    pub(super) fn line<'a>(lines: &'a [Check], what: &str) -> &'a Check {
        lines
            .iter()
            .find(|c| c.what == what)
            .unwrap_or_else(|| panic!("no `{what}` line in {lines:?}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{fixtures::*, *};

    #[test]
    fn a_well_configured_public_connector_passes_for_every_host() {
        for host in [Host::Any, Host::Claude, Host::Chatgpt] {
            let lines = findings(host, &observed(CONNECTOR, good_metadata()));
            assert_eq!(lines.len(), 8, "{lines:?}");
            for l in &lines {
                assert_eq!(l.verdict, Verdict::Ok, "{host:?}: {l}");
            }
        }
    }

    #[test]
    fn loopback_http_is_local_only_for_any_and_a_failure_for_cloud_hosts() {
        let local = url("http://127.0.0.1:8000/mcp");
        let any = connector_line(Host::Any, &local);
        assert_eq!(any.verdict, Verdict::Note, "{any}");
        assert!(any.detail.contains("local-only"), "{any}");
        for host in [Host::Claude, Host::Chatgpt] {
            let cloud = connector_line(host, &local);
            assert_eq!(cloud.verdict, Verdict::Fail, "{cloud}");
            assert!(cloud.detail.contains("public https URL"), "{cloud}");
        }
        assert_eq!(
            connector_line(Host::Claude, &url("http://localhost:8000/mcp")).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn a_public_url_must_be_https_on_443() {
        let http = connector_line(Host::Any, &url("http://app.example.com/mcp"));
        assert_eq!(http.verdict, Verdict::Fail, "{http}");
        assert!(
            http.detail.contains("https://app.example.com/mcp"),
            "{http}"
        );
        let port = connector_line(Host::Any, &url("https://app.example.com:8443/mcp"));
        assert_eq!(port.verdict, Verdict::Fail, "{port}");
        assert!(port.detail.contains("drop `:8443`"), "{port}");
        assert_eq!(
            connector_line(Host::Claude, &url("https://app.example.com:443/mcp")).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        let lines = connector_line(Host::Any, &url("http://me:hunter2@app.example.com/mcp"));
        assert!(!lines.detail.contains("hunter2"), "{lines}");
    }

    #[test]
    fn an_audience_off_by_a_slash_fails_and_names_the_fix() {
        let connector = url(CONNECTOR);
        assert_eq!(audience_line(&connector, None).verdict, Verdict::Ok);
        assert_eq!(
            audience_line(&connector, Some(CONNECTOR)).verdict,
            Verdict::Ok
        );
        let slash = audience_line(&connector, Some("https://app.example.com/mcp/"));
        assert_eq!(slash.verdict, Verdict::Fail, "{slash}");
        assert!(slash.detail.contains("trailing slash"), "{slash}");
        assert!(
            slash
                .detail
                .contains("AUTH_AUDIENCE=https://app.example.com/mcp"),
            "{slash}"
        );
        let api = audience_line(&connector, Some("https://api.example.com"));
        assert_eq!(api.verdict, Verdict::Note, "{api}");
    }

    #[test]
    fn the_resource_must_be_served_at_both_locations_and_name_the_url_exactly() {
        let connector = url(CONNECTOR);
        let ok = resource_line(&connector, &prm(CONNECTOR), Some(&prm(CONNECTOR)));
        assert_eq!(ok.verdict, Verdict::Ok, "{ok}");
        assert!(
            ok.detail
                .contains("/.well-known/oauth-protected-resource/mcp"),
            "{ok}"
        );

        let missing = json(404, &json!({}));
        let root_only = resource_line(&connector, &prm(CONNECTOR), Some(&missing));
        assert_eq!(root_only.verdict, Verdict::Fail, "{root_only}");
        assert!(
            root_only
                .detail
                .contains("/.well-known/oauth-protected-resource/mcp answered 404"),
            "{root_only}"
        );
        assert!(
            root_only.detail.contains("serve the document there too"),
            "{root_only}"
        );

        let slashed = prm("https://app.example.com/mcp/");
        let off = resource_line(&connector, &slashed, Some(&slashed));
        assert_eq!(off.verdict, Verdict::Fail, "{off}");
        assert!(off.detail.contains("a trailing slash differs"), "{off}");
        assert!(
            off.detail
                .contains("set RESOURCE_URL=https://app.example.com/mcp"),
            "{off}"
        );
        assert_eq!(
            off.detail.matches("names resource").count(),
            1,
            "one mismatch at both locations is said once: {off}"
        );
    }

    #[test]
    fn a_connector_that_is_not_running_is_a_note_and_the_configured_issuer_is_checked() {
        let down = Answer::Unreachable("connection refused".into());
        let line = resource_line(&url("http://127.0.0.1:8000/mcp"), &down, None);
        assert_eq!(line.verdict, Verdict::Note, "{line}");
        assert!(
            line.detail.contains("not running") && line.detail.contains("devkit up"),
            "{line}"
        );
        assert_eq!(
            issuer_to_check(&down, None, Some(ISSUER)),
            Some((ISSUER.to_owned(), IssuerSource::Settings))
        );
        assert_eq!(issuer_to_check(&down, None, None), None);

        let broken = Answer::Failed("invalid peer certificate: UnknownIssuer".into());
        let line = resource_line(&url(CONNECTOR), &broken, Some(&broken));
        assert_eq!(
            line.verdict,
            Verdict::Fail,
            "a TLS failure is not `not running`: {line}"
        );
        assert!(line.detail.contains("certificate"), "{line}");
    }

    #[test]
    fn the_issuer_comes_from_the_running_connector_first() {
        let doc = prm(CONNECTOR);
        assert_eq!(
            issuer_to_check(&doc, Some(&doc), Some("https://other.example.com")),
            Some((ISSUER.to_owned(), IssuerSource::Connector))
        );
        let no_sign_in = json(200, &json!({"resource": CONNECTOR}));
        assert_eq!(issuer_to_check(&no_sign_in, None, Some(ISSUER)), None);
    }

    #[test]
    fn discovery_inserts_then_appends_the_well_known_segment() {
        let plain: Vec<String> = discovery_urls("https://auth.example.com/")
            .expect("urls")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            plain,
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration"
            ]
        );
        let tenant: Vec<String> = discovery_urls("https://auth.example.com/tenant")
            .expect("urls")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            tenant,
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant",
                "https://auth.example.com/tenant/.well-known/openid-configuration"
            ]
        );
        assert!(discovery_urls("not a url").is_err());
    }

    #[test]
    fn what_a_server_sends_cannot_drive_the_terminal() {
        assert_eq!(shown("a\u{1b}[31mred"), "a?[31mred");
        assert_eq!(shown(&"x".repeat(500)).chars().count(), 121);
    }
}
