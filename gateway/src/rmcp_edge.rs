//! Where the gateway adjusts rmcp 3.11's behaviour at its edge: all in one
//! place, each adjustment pinned by a test, so an rmcp upgrade that changes
//! one fails here (or in the attack matrix, for the two that need a live
//! server) instead of silently changing what hosts see.
//!
//! 1. rmcp's POST handler insists that `Accept` names both JSON and SSE, and
//!    answers in the form its configuration says. Real hosts are less tidy
//!    (some send only `text/event-stream`), so [`wants_sse_only`] picks one
//!    of two services, one per form, and [`accept_both`] is the header rmcp
//!    is then given.
//! 2. rmcp answers a JSON body it cannot parse with 415, as if the media type
//!    were wrong: [`is_unparsable_json`] spots it, and the HTTP layer answers
//!    400 with JSON-RPC -32700 instead.
//! 3. rmcp answers arguments that do not fit a tool's schema with a tool
//!    error of its own wording; [`argument_problem`] recognises it by its
//!    prefix so the kit can give it the `INVALID_ARGUMENT` code.
//! 4. rmcp runs every stateless request through a service loop of its own
//!    (a transport, channels and three tasks) to get one answer back. The
//!    hot requests, `tools/call` and `tools/list` answered as JSON, are
//!    answered in the HTTP task instead (`http/direct.rs`), but only those
//!    that rmcp's every check would pass unchanged ([`may_read_directly`],
//!    [`direct_revision`]): anything else, errors included, still goes to
//!    rmcp, so its answers stay rmcp's own. See `docs/decisions.md`.

use http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_LENGTH};
use rmcp::model::{ClientRequest, GetMeta, ProtocolVersion};

/// The header naming the revision a request is made under.
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// rmcp 3.11's wording for arguments that do not deserialise.
const ARGUMENT_ERROR_PREFIX: &str = "failed to deserialize parameters:";

/// The `Accept` header rmcp requires on every POST.
pub(crate) fn accept_both() -> HeaderValue {
    HeaderValue::from_static("application/json, text/event-stream")
}

/// The problem in rmcp's own argument error, or `None` for any other text.
pub(crate) fn argument_problem(text: &str) -> Option<&str> {
    text.strip_prefix(ARGUMENT_ERROR_PREFIX)
}

/// Whether rmcp's answer to a JSON body is its 415 for JSON it could not parse.
pub(crate) fn is_unparsable_json(sent_json: bool, status: StatusCode) -> bool {
    sent_json && status == StatusCode::UNSUPPORTED_MEDIA_TYPE
}

pub(crate) fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether the gateway may read this POST's body itself to see if it can be
/// answered directly: JSON (else rmcp answers 415) with a declared length
/// within the limit (else rmcp's own reading decides, 413 included).
pub(crate) fn may_read_directly(headers: &HeaderMap, max_body_bytes: usize) -> bool {
    is_json(headers.get(http::header::CONTENT_TYPE))
        && headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|length| length <= max_body_bytes)
}

/// The revision a parsed request is answered under when the gateway answers
/// it without rmcp's service loop, or `None` to leave it to rmcp.
///
/// Only `tools/call` and `tools/list` of the session-era revisions are
/// answered directly: a request naming its revision in `_meta`, or a header
/// of 2026-07-28 or later, takes rmcp's negotiated path with its standard
/// header checks; an unknown or unreadable header gets rmcp's 400. With no
/// header, rmcp assumes 2025-03-26, and so does this.
pub(crate) fn direct_revision(
    headers: &HeaderMap,
    request: &ClientRequest,
) -> Option<ProtocolVersion> {
    if !matches!(
        request,
        ClientRequest::CallToolRequest(_) | ClientRequest::ListToolsRequest(_)
    ) || request.get_meta().protocol_version().is_some()
    {
        return None;
    }
    let Some(value) = headers.get(PROTOCOL_VERSION_HEADER) else {
        return Some(ProtocolVersion::V_2025_03_26);
    };
    let named = value.to_str().ok()?;
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .find(|known| known.as_str() == named)
        .filter(|known| known.as_str() < ProtocolVersion::STANDARD_HEADERS.as_str())
        .cloned()
}

/// True when the client accepts an event stream but not JSON.
pub(crate) fn wants_sse_only<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> bool {
    let (mut json, mut sse) = (false, false);
    for range in values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match essence.as_str() {
            "application/json" | "application/*" | "*/*" => json = true,
            "text/event-stream" => sse = true,
            _ => {}
        }
    }
    sse && !json
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse_only(values: &[&str]) -> bool {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).expect("v"))
            .collect();
        wants_sse_only(values.iter())
    }

    #[test]
    fn accept_headers_choose_the_response_form() {
        assert!(sse_only(&["text/event-stream"]));
        assert!(sse_only(&["text/event-stream, application/json;q=0"]));
        assert!(!sse_only(&["application/json, text/event-stream"]));
        assert!(!sse_only(&["*/*"]));
        assert!(!sse_only(&[]));
        assert!(!sse_only(&["application/json"]));
    }

    #[test]
    fn only_a_json_body_answered_415_is_a_parse_error() {
        assert!(is_unparsable_json(true, StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert!(!is_unparsable_json(
            false,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        ));
        assert!(!is_unparsable_json(true, StatusCode::BAD_REQUEST));
        let json = HeaderValue::from_static("application/json; charset=utf-8");
        assert!(is_json(Some(&json)));
        assert!(!is_json(Some(&HeaderValue::from_static("text/plain"))));
        assert!(!is_json(None));
    }

    #[test]
    fn rmcps_argument_error_is_recognised_by_its_prefix_only() {
        assert_eq!(
            argument_problem("failed to deserialize parameters: unknown field `sub`"),
            Some(" unknown field `sub`")
        );
        assert_eq!(
            argument_problem("NOT_FOUND: failed to deserialize parameters:"),
            None
        );
    }

    #[test]
    fn only_a_json_body_of_declared_length_within_the_limit_is_read_directly() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        let json = ("content-type", "application/json");
        assert!(may_read_directly(
            &headers(&[json, ("content-length", "100")]),
            100
        ));
        assert!(!may_read_directly(
            &headers(&[json, ("content-length", "101")]),
            100
        ));
        assert!(
            !may_read_directly(&headers(&[json]), 100),
            "chunked: rmcp reads it"
        );
        assert!(!may_read_directly(
            &headers(&[("content-type", "text/plain"), ("content-length", "10")]),
            100
        ));
        assert!(!may_read_directly(
            &headers(&[json, ("content-length", "ten")]),
            100
        ));
    }

    #[test]
    fn only_session_era_calls_and_lists_are_answered_directly() {
        let request = |body: serde_json::Value| -> ClientRequest {
            serde_json::from_value(body).expect("a client request")
        };
        let call = request(serde_json::json!({
            "method": "tools/call", "params": {"name": "begin_session", "arguments": {}}
        }));
        let list = request(serde_json::json!({"method": "tools/list"}));
        let with = |version: &'static str| {
            let mut map = HeaderMap::new();
            map.insert(PROTOCOL_VERSION_HEADER, HeaderValue::from_static(version));
            map
        };
        assert_eq!(
            direct_revision(&with("2025-11-25"), &call),
            Some(ProtocolVersion::V_2025_11_25)
        );
        assert_eq!(
            direct_revision(&with("2025-06-18"), &list),
            Some(ProtocolVersion::V_2025_06_18)
        );
        // rmcp's default when no header names one.
        assert_eq!(
            direct_revision(&HeaderMap::new(), &call),
            Some(ProtocolVersion::V_2025_03_26)
        );
        // rmcp's 400 for these, and its negotiated path for 2026-07-28.
        assert_eq!(direct_revision(&with("2099-01-01"), &call), None);
        assert_eq!(direct_revision(&with("2026-07-28"), &call), None);
        let mut meta_call = serde_json::json!({
            "method": "tools/call",
            "params": {"name": "begin_session", "arguments": {},
                       "_meta": {"io.modelcontextprotocol/protocolVersion": "2025-11-25"}}
        });
        assert_eq!(
            direct_revision(&with("2025-11-25"), &request(meta_call.take())),
            None
        );
        let init = request(serde_json::json!({
            "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}
        }));
        assert_eq!(direct_revision(&with("2025-11-25"), &init), None);
        let ping = request(serde_json::json!({"method": "ping"}));
        assert_eq!(direct_revision(&with("2025-11-25"), &ping), None);
    }

    /// rmcp still insists on both forms: its own check refuses one alone.
    #[test]
    fn the_header_given_to_rmcp_names_both_forms() {
        let value = accept_both();
        let text = value.to_str().expect("ascii");
        assert!(text.contains("application/json") && text.contains("text/event-stream"));
    }
}
