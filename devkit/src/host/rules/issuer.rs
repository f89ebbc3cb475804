//! The rules about the issuer's metadata (RFC 8414 / OIDC Discovery) and
//! what it offers a host: a way to get a client, PKCE S256, RFC 9207 `iss`,
//! and token errors a host can read (RFC 6749 §5.2).

use serde_json::{Map, Value};
use url::Url;

use super::{
    Answer, CHATGPT_REDIRECT, IssuerObserved, IssuerSource, differ_by_slash, discovery_urls,
    first_document, is_loopback, is_true, json_object, list_has, shown, str_field,
};
use crate::{
    doctor::{Check, Verdict, check},
    host::Host,
};

/// The lines about the issuer: its metadata, then what it offers hosts.
pub(super) fn lines(host: Host, issuer: &IssuerObserved) -> Vec<Check> {
    let Some((found_at, doc)) = first_document(&issuer.discovery) else {
        return vec![no_metadata_line(issuer)];
    };
    vec![
        issuer_line(host, issuer, found_at, &doc),
        registration_line(host, &doc),
        pkce_line(&doc),
        iss_parameter_line(&doc),
        token_error_line(&doc, issuer.token_error.as_ref()),
    ]
}

fn no_metadata_line(issuer: &IssuerObserved) -> Check {
    const WHAT: &str = "issuer";
    let id = shown(&issuer.id);
    if issuer.discovery.is_empty() {
        let why = discovery_urls(&issuer.id).err().unwrap_or_default();
        return check(
            WHAT,
            Verdict::Fail,
            format!("{why}: set AUTH_ISSUER to the issuer's https URL"),
        );
    }
    let first_down = issuer
        .discovery
        .first()
        .and_then(|(_, answer)| match answer {
            Answer::Unreachable(why) => Some(why),
            _ => None,
        });
    let all_down = issuer
        .discovery
        .iter()
        .all(|(_, answer)| matches!(answer, Answer::Unreachable(_)));
    if let Some(why) = first_down
        && all_down
    {
        let start = if Url::parse(&issuer.id).is_ok_and(|u| is_loopback(&u)) {
            "start it (`devkit up` serves the mock issuer on the connector's origin; alone: \
             `cargo run -p mock-issuer`)"
        } else {
            "check AUTH_ISSUER and this machine's network"
        };
        return check(
            WHAT,
            Verdict::Note,
            format!("{id} is not answering ({why}): {start}, then run doctor again"),
        );
    }
    let tried: Vec<String> = issuer
        .discovery
        .iter()
        .map(|(u, a)| format!("{u} {}", json_object(a).err().unwrap_or_default()))
        .collect();
    check(
        WHAT,
        Verdict::Fail,
        format!(
            "no metadata for {id}: {}; set AUTH_ISSUER to the exact issuer identifier (the \
             `issuer` its metadata names)",
            tried.join("; ")
        ),
    )
}

fn issuer_line(
    host: Host,
    issuer: &IssuerObserved,
    found_at: &Url,
    doc: &Map<String, Value>,
) -> Check {
    const WHAT: &str = "issuer";
    let id = shown(&issuer.id);
    let named = match str_field(doc, "issuer") {
        None => {
            return check(
                WHAT,
                Verdict::Fail,
                format!(
                    "{found_at} has no `issuer`: the issuer's metadata must name it (RFC 8414 §2)"
                ),
            );
        }
        Some(named) => named,
    };
    if named != issuer.id {
        let slash = if differ_by_slash(named, &issuer.id) {
            " (a trailing slash differs)"
        } else {
            ""
        };
        return check(
            WHAT,
            Verdict::Fail,
            format!(
                "{found_at} names issuer `{}` but AUTH_ISSUER is `{id}`{slash}; hosts and the \
                 gateway compare it exactly (RFC 8414 §3.3): set AUTH_ISSUER={}",
                shown(named),
                shown(named)
            ),
        );
    }
    let from = match issuer.source {
        IssuerSource::Connector => "named by the connector",
        IssuerSource::Settings => "AUTH_ISSUER, as the connector could not tell",
    };
    let Ok(url) = Url::parse(&issuer.id) else {
        return check(
            WHAT,
            Verdict::Fail,
            format!("`{id}` is not a URL: set AUTH_ISSUER to the issuer's https URL"),
        );
    };
    match (url.scheme(), is_loopback(&url), host) {
        ("https", _, _) => check(
            WHAT,
            Verdict::Ok,
            format!("{id} ({from}), metadata at {found_at}"),
        ),
        ("http", true, Host::Any) => check(
            WHAT,
            Verdict::Ok,
            format!("{id} ({from}, local-only), metadata at {found_at}"),
        ),
        ("http", true, _) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "{id} is loopback http, which {} cannot reach for sign-in: use a public https issuer \
                 (`devkit up` serves one through its tunnel)",
                host.name()
            ),
        ),
        _ => check(
            WHAT,
            Verdict::Fail,
            format!("{id} is plain http: sign-in must be over https; serve the issuer over https"),
        ),
    }
}

/// How the host gets an OAuth client. Claude names itself with a client ID
/// metadata document when the issuer advertises CIMD *and* token auth
/// method `none` (it is a public client); otherwise it falls back, without
/// saying so, to dynamic client registration. ChatGPT's connector flow
/// registers with DCR and signs in with [`CHATGPT_REDIRECT`]; OpenAI also
/// documents CIMD support, so CIMD without DCR is a note, not a failure.
fn registration_line(host: Host, doc: &Map<String, Value>) -> Check {
    const WHAT: &str = "registration";
    let cimd = is_true(doc, "client_id_metadata_document_supported");
    let none = list_has(doc, "token_endpoint_auth_methods_supported", "none");
    let registration = str_field(doc, "registration_endpoint").filter(|r| !r.is_empty());
    let mut missing = Vec::new();
    if !cimd {
        missing.push("`client_id_metadata_document_supported: true`");
    }
    if !none {
        missing.push("`none` in `token_endpoint_auth_methods_supported`");
    }
    let missing = missing.join(" and ");
    const BOTH_OFF: &str = "turn on client ID metadata documents (`client_id_metadata_document_supported: true` \
         with `none` in `token_endpoint_auth_methods_supported`) or dynamic client registration \
         (RFC 7591) in the issuer";

    if host == Host::Chatgpt {
        return match registration {
            Some(at) => check(
                WHAT,
                Verdict::Ok,
                format!(
                    "ChatGPT registers itself at {} (DCR, RFC 7591) with redirect URI \
                     {CHATGPT_REDIRECT}, which the issuer must accept (doctor registers nothing)",
                    shown(at)
                ),
            ),
            None if cimd && none => check(
                WHAT,
                Verdict::Note,
                format!(
                    "no registration_endpoint: ChatGPT's connector flow registers with DCR (RFC 7591); \
                     this issuer offers client ID metadata documents only. To be sure, turn on DCR \
                     and allow redirect URI {CHATGPT_REDIRECT}"
                ),
            ),
            None => check(
                WHAT,
                Verdict::Fail,
                format!(
                    "no registration_endpoint: ChatGPT registers itself with dynamic client \
                     registration (RFC 7591); turn on DCR in the issuer and allow redirect URI \
                     {CHATGPT_REDIRECT}"
                ),
            ),
        };
    }
    // Claude's rules; `any` adds what ChatGPT would lack.
    let chatgpt_lacks = host == Host::Any && registration.is_none();
    match registration {
        _ if cimd && none && chatgpt_lacks => check(
            WHAT,
            Verdict::Note,
            format!(
                "Claude can name its client (CIMD, auth method `none`); no registration_endpoint, \
                 so ChatGPT, which registers with DCR (RFC 7591), may not sign in: turn on DCR for it \
                 (redirect URI {CHATGPT_REDIRECT})"
            ),
        ),
        _ if cimd && none => check(
            WHAT,
            Verdict::Ok,
            "client ID metadata documents with auth method `none`: Claude names its own client (CIMD)",
        ),
        Some(at) => check(
            WHAT,
            Verdict::Note,
            format!(
                "no {missing}, so Claude silently falls back to dynamic client registration at {}: \
                 to let it use its client ID metadata document, advertise {missing} in the issuer",
                shown(at)
            ),
        ),
        None => check(
            WHAT,
            Verdict::Fail,
            format!(
                "no {missing} and no registration_endpoint, so Claude has no way to get a client: {BOTH_OFF}"
            ),
        ),
    }
}

fn pkce_line(doc: &Map<String, Value>) -> Check {
    const WHAT: &str = "PKCE";
    match doc
        .get("code_challenge_methods_supported")
        .and_then(Value::as_array)
    {
        None => check(
            WHAT,
            Verdict::Fail,
            "no `code_challenge_methods_supported`: MCP hosts refuse to sign in without it; \
             advertise [\"S256\"] (and support it)",
        ),
        Some(_) if list_has(doc, "code_challenge_methods_supported", "S256") => {
            check(WHAT, Verdict::Ok, "S256 advertised")
        }
        Some(methods) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "`code_challenge_methods_supported` is {} without S256: turn on S256 PKCE in the issuer",
                shown(&Value::Array(methods.clone()).to_string())
            ),
        ),
    }
}

/// RFC 9207 protects against mix-up attacks; hosts sign in without it, so
/// a hosted issuer that lacks it gets a note, not a failure.
fn iss_parameter_line(doc: &Map<String, Value>) -> Check {
    const WHAT: &str = "iss parameter";
    if is_true(doc, "authorization_response_iss_parameter_supported") {
        check(
            WHAT,
            Verdict::Ok,
            "authorization responses carry `iss` (RFC 9207)",
        )
    } else {
        check(
            WHAT,
            Verdict::Note,
            "`authorization_response_iss_parameter_supported` is not true: hosts cannot tell this \
             issuer's answers from another's (mix-up, RFC 9207); turn it on in the issuer if it can",
        )
    }
}

fn token_error_line(doc: &Map<String, Value>, answer: Option<&Answer>) -> Check {
    const WHAT: &str = "token errors";
    const FIX: &str = "hosts read a failed exchange as JSON with an `error` code (RFC 6749 §5.2): \
                       make the token endpoint answer errors that way";
    let Some(endpoint) = str_field(doc, "token_endpoint") else {
        return check(
            WHAT,
            Verdict::Fail,
            "the metadata names no `token_endpoint`: the issuer must publish one (RFC 8414 §2)",
        );
    };
    let endpoint = shown(endpoint);
    let reply = match answer {
        None => {
            return check(
                WHAT,
                Verdict::Fail,
                format!(
                    "`token_endpoint` {endpoint} is not a URL: the issuer must publish an https URL"
                ),
            );
        }
        Some(Answer::Unreachable(why) | Answer::Failed(why)) => {
            return check(
                WHAT,
                Verdict::Fail,
                format!("{endpoint}: {why}; hosts must reach it to sign in"),
            );
        }
        Some(Answer::Http(reply)) => reply,
    };
    let json_type = reply
        .content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    let error = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(shown));
    let status = reply.status;
    match (status, json_type, error) {
        (400..=499, true, Some(error)) => check(
            WHAT,
            Verdict::Ok,
            format!("a made-up code gets {status} `{error}` in JSON"),
        ),
        (300..=399, _, _) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "{endpoint} redirects ({status}) to {}: set `token_endpoint` to the final URL",
                shown(reply.location.as_deref().unwrap_or("nowhere"))
            ),
        ),
        (400..=499, true, None) => check(
            WHAT,
            Verdict::Fail,
            format!(
                "{endpoint} answered a made-up code with {status} JSON without an `error` field: {FIX}"
            ),
        ),
        _ => check(
            WHAT,
            Verdict::Fail,
            format!(
                "{endpoint} answered a made-up code with {status} {}, expected a 4xx application/json: {FIX}",
                shown(
                    reply
                        .content_type
                        .as_deref()
                        .unwrap_or("without a content type")
                )
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{super::fixtures::*, *};
    use crate::host::rules::{Reply, discovery_urls, findings};

    #[test]
    fn the_issuer_must_match_exactly_trailing_slash_included() {
        let mut seen = observed(CONNECTOR, good_metadata());
        if let Some(issuer) = seen.issuer.as_mut() {
            issuer.id = format!("{ISSUER}/");
        }
        let lines = findings(Host::Any, &seen);
        let issuer = line(&lines, "issuer");
        assert_eq!(issuer.verdict, Verdict::Fail, "{issuer}");
        assert!(
            issuer.detail.contains("a trailing slash differs"),
            "{issuer}"
        );
        assert!(
            issuer
                .detail
                .contains("set AUTH_ISSUER=https://auth.example.com"),
            "{issuer}"
        );
    }

    #[test]
    fn without_cimd_claude_falls_back_to_dcr_and_the_line_says_so() {
        let doc = without(good_metadata(), &["client_id_metadata_document_supported"]);
        for host in [Host::Claude, Host::Any] {
            let lines = findings(host, &observed(CONNECTOR, doc.clone()));
            let reg = line(&lines, "registration");
            assert_eq!(reg.verdict, Verdict::Note, "{reg}");
            assert!(
                reg.detail
                    .contains("silently falls back to dynamic client registration"),
                "{reg}"
            );
            assert!(
                reg.detail
                    .contains("client_id_metadata_document_supported: true"),
                "{reg}"
            );
        }
        // `none` is needed too: Claude is a public client.
        let doc = json!({"client_id_metadata_document_supported": true,
                         "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                         "registration_endpoint": "https://auth.example.com/register"});
        let reg = registration_line(Host::Claude, doc.as_object().expect("object"));
        assert_eq!(reg.verdict, Verdict::Note, "{reg}");
        assert!(
            reg.detail
                .contains("`none` in `token_endpoint_auth_methods_supported`"),
            "{reg}"
        );
    }

    #[test]
    fn no_cimd_and_no_registration_endpoint_fails_for_claude_and_any() {
        let doc = without(
            good_metadata(),
            &[
                "client_id_metadata_document_supported",
                "registration_endpoint",
            ],
        );
        for host in [Host::Claude, Host::Any, Host::Chatgpt] {
            let reg = registration_line(host, doc.as_object().expect("object"));
            assert_eq!(reg.verdict, Verdict::Fail, "{host:?}: {reg}");
        }
        let reg = registration_line(Host::Claude, doc.as_object().expect("object"));
        assert!(reg.detail.contains("no way to get a client"), "{reg}");
    }

    #[test]
    fn chatgpt_registers_with_dcr_and_its_redirect_is_named() {
        let good = good_metadata();
        let reg = registration_line(Host::Chatgpt, good.as_object().expect("object"));
        assert_eq!(reg.verdict, Verdict::Ok, "{reg}");
        assert!(reg.detail.contains(CHATGPT_REDIRECT), "{reg}");
        let cimd_only = without(good_metadata(), &["registration_endpoint"]);
        let reg = registration_line(Host::Chatgpt, cimd_only.as_object().expect("object"));
        assert_eq!(reg.verdict, Verdict::Note, "{reg}");
        let any = registration_line(Host::Any, cimd_only.as_object().expect("object"));
        assert_eq!(any.verdict, Verdict::Note, "{any}");
        assert!(any.detail.contains("ChatGPT"), "{any}");
    }

    #[test]
    fn pkce_s256_must_be_advertised() {
        let plain = json!({"code_challenge_methods_supported": ["plain"]});
        assert_eq!(
            pkce_line(plain.as_object().expect("object")).verdict,
            Verdict::Fail
        );
        let absent = json!({});
        assert_eq!(
            pkce_line(absent.as_object().expect("object")).verdict,
            Verdict::Fail
        );
        let both = json!({"code_challenge_methods_supported": ["plain", "S256"]});
        assert_eq!(
            pkce_line(both.as_object().expect("object")).verdict,
            Verdict::Ok
        );
    }

    #[test]
    fn rfc_9207_iss_is_noted_when_missing() {
        let doc = without(
            good_metadata(),
            &["authorization_response_iss_parameter_supported"],
        );
        let iss = iss_parameter_line(doc.as_object().expect("object"));
        assert_eq!(iss.verdict, Verdict::Note, "{iss}");
        assert!(iss.detail.contains("RFC 9207"), "{iss}");
    }

    #[test]
    fn token_errors_must_be_4xx_json_with_an_error_code() {
        let good = good_metadata();
        let doc = good.as_object().expect("object");
        let ok = token_error_line(doc, Some(&token_json_error()));
        assert_eq!(ok.verdict, Verdict::Ok, "{ok}");
        assert!(ok.detail.contains("400 `invalid_grant`"), "{ok}");
        assert!(
            !ok.detail.contains("unknown code"),
            "the description is not echoed: {ok}"
        );

        let html = Answer::Http(Reply {
            status: 400,
            content_type: Some("text/html; charset=utf-8".into()),
            location: None,
            body: "<h1>Bad request</h1>".into(),
        });
        let line = token_error_line(doc, Some(&html));
        assert_eq!(line.verdict, Verdict::Fail, "{line}");
        assert!(
            line.detail.contains("text/html") && line.detail.contains("RFC 6749"),
            "{line}"
        );
        let server_error =
            token_error_line(doc, Some(&json(500, &json!({"error": "server_error"}))));
        assert_eq!(server_error.verdict, Verdict::Fail, "{server_error}");
        let no_code = token_error_line(doc, Some(&json(400, &json!({"message": "no"}))));
        assert_eq!(no_code.verdict, Verdict::Fail, "{no_code}");
        assert!(
            no_code.detail.contains("without an `error` field"),
            "{no_code}"
        );
        let redirect = Answer::Http(Reply {
            status: 302,
            location: Some("https://auth.example.com/login".into()),
            ..Reply::default()
        });
        let moved = token_error_line(doc, Some(&redirect));
        assert!(
            moved.detail.contains("https://auth.example.com/login"),
            "{moved}"
        );
    }

    #[test]
    fn an_unreachable_issuer_is_a_note_and_a_missing_document_a_failure() {
        let urls = discovery_urls("http://127.0.0.1:9000").expect("urls");
        let down = IssuerObserved {
            id: "http://127.0.0.1:9000".into(),
            source: IssuerSource::Settings,
            discovery: urls
                .iter()
                .map(|u| (u.clone(), Answer::Unreachable("connection refused".into())))
                .collect(),
            token_error: None,
        };
        let found = lines(Host::Any, &down);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].verdict, Verdict::Note, "{}", found[0]);
        assert!(
            found[0].detail.contains("cargo run -p mock-issuer"),
            "{}",
            found[0]
        );

        let missing = IssuerObserved {
            discovery: urls
                .iter()
                .map(|u| (u.clone(), json(404, &json!({}))))
                .collect(),
            ..down
        };
        let found = lines(Host::Any, &missing);
        assert_eq!(found[0].verdict, Verdict::Fail, "{}", found[0]);
        assert!(found[0].detail.contains("answered 404"), "{}", found[0]);
    }
}
