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

use http::{HeaderValue, StatusCode};

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

    /// rmcp still insists on both forms: its own check refuses one alone.
    #[test]
    fn the_header_given_to_rmcp_names_both_forms() {
        let value = accept_both();
        let text = value.to_str().expect("ascii");
        assert!(text.contains("application/json") && text.contains("text/event-stream"));
    }
}
