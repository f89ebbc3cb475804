//! The check `devkit up` makes from the outside before it hands out a URL:
//! what a chat host will see first when it is given the connector URL.
//!
//! With sign-in on, an unauthenticated `tools/list` must get the 401
//! challenge pointing at our RFC 9728 metadata, and that metadata must name
//! the public connector URL (a host validates it). With sign-in off, the
//! same request must simply succeed.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use url::Url;

use crate::error_chain;

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts: a new quick tunnel takes a few seconds to resolve.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Checks `connector` (the public `/mcp` URL) until it passes or `within` runs out.
pub async fn check_connector(
    connector: &Url,
    auth_disabled: bool,
    within: Duration,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let started = Instant::now();
    loop {
        let problem = match attempt(&client, connector, auth_disabled).await {
            Ok(()) => return Ok(()),
            Err(problem) => problem,
        };
        if started.elapsed() + RETRY_PAUSE >= within {
            return Err(format!(
                "{connector} did not answer as a connector within {}s; last problem: {problem}",
                within.as_secs()
            ));
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

async fn attempt(
    client: &reqwest::Client,
    connector: &Url,
    auth_disabled: bool,
) -> Result<(), String> {
    let response = client
        .post(connector.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .map_err(|e| format!("cannot reach it: {}", error_chain(&e)))?;
    let status = response.status();
    if auth_disabled {
        return match status {
            StatusCode::OK => Ok(()),
            other => Err(format!("tools/list answered {other}, expected 200")),
        };
    }
    if status != StatusCode::UNAUTHORIZED {
        return Err(format!(
            "tools/list without a token answered {status}, expected 401"
        ));
    }
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let metadata = resource_metadata_in(challenge)
        .ok_or_else(|| format!("the 401 has no resource_metadata challenge: `{challenge}`"))?;
    let expected_origin = connector.origin();
    if metadata.origin() != expected_origin {
        return Err(format!(
            "the challenge points at {metadata}, not at {}",
            expected_origin.ascii_serialization()
        ));
    }
    let document: serde_json::Value = client
        .get(metadata.clone())
        .send()
        .await
        .map_err(|e| format!("cannot fetch {metadata}: {}", error_chain(&e)))?
        .json()
        .await
        .map_err(|e| format!("{metadata} is not JSON: {e}"))?;
    match document.get("resource").and_then(|r| r.as_str()) {
        Some(resource) if resource == connector.as_str() => Ok(()),
        other => Err(format!(
            "{metadata} names the resource {other:?}, not {connector}"
        )),
    }
}

/// `resource_metadata="…"` from a `WWW-Authenticate: Bearer …` header.
fn resource_metadata_in(challenge: &str) -> Option<Url> {
    let start = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
    let rest = &challenge[start..];
    Url::parse(&rest[..rest.find('"')?]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_is_read_from_the_challenge() {
        let header = r#"Bearer error="invalid_token", resource_metadata="https://a.trycloudflare.com/.well-known/oauth-protected-resource/mcp""#;
        assert_eq!(
            resource_metadata_in(header).map(String::from),
            Some("https://a.trycloudflare.com/.well-known/oauth-protected-resource/mcp".into())
        );
        assert_eq!(resource_metadata_in("Bearer"), None);
        assert_eq!(
            resource_metadata_in(r#"Bearer resource_metadata="unterminated"#),
            None
        );
    }
}
