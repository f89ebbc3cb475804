//! The MCP wire as the bench speaks it: JSON-RPC `tools/call` bodies, a
//! cheap verdict for every answer, and a full parse for the sampled one.
//!
//! The gateway is stateless streamable HTTP, so a `tools/call` needs no
//! `initialize` before it; each request stands alone.

use bytes::Bytes;
use http::StatusCode;
use memchr::memmem;
use serde_json::{Value, json};

/// Sent as `MCP-Protocol-Version` on every request.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// A `tools/call` request body.
pub fn tools_call(tool: &str, arguments: Value) -> Bytes {
    let message = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    });
    Bytes::from(message.to_string())
}

/// Success means: HTTP 200, a JSON-RPC `result`, and not a tool error.
///
/// Byte searches, not a parse, so checking every answer costs the load
/// generator almost nothing. They are exact: JSON escapes every quote inside
/// a string, so `"isError":true` can only be the key itself, never content.
pub fn quick_verdict(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK
        || memmem::find(body, br#""result":"#).is_none()
        || memmem::find(body, br#""isError":true"#).is_some()
    {
        return Err(describe_failure(status, body));
    }
    Ok(())
}

/// The `structuredContent` of a successful `tools/call` answer.
pub fn structured_content(status: StatusCode, body: &[u8]) -> Result<Value, String> {
    quick_verdict(status, body)?;
    let message: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if message["result"]["isError"] == json!(true) {
        return Err(describe_failure(status, body));
    }
    match message.pointer("/result/structuredContent") {
        Some(content) if content.is_object() => Ok(content.clone()),
        _ => Err("the result has no structuredContent object".into()),
    }
}

/// A short account of a failed answer: the status, and the JSON-RPC error
/// message or the tool's error text. Never the whole body, which for
/// `begin_session` would hold a session token.
pub fn describe_failure(status: StatusCode, body: &[u8]) -> String {
    let message: Option<Value> = serde_json::from_slice(body).ok();
    let detail = message.as_ref().and_then(|m| {
        m.pointer("/error/message")
            .or_else(|| m.pointer("/result/content/0/text"))
            .and_then(Value::as_str)
    });
    let detail = match detail {
        Some(text) => text.to_owned(),
        // Not JSON-RPC: a plain HTTP error body (these carry no secrets), cut short.
        None if status != StatusCode::OK => String::from_utf8_lossy(body).into_owned(),
        None => "an answer that is neither a result nor an error".into(),
    };
    let detail: String = detail.chars().take(200).collect();
    format!("HTTP {}: {detail}", status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_passes_and_errors_of_every_kind_fail() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}"#;
        assert!(quick_verdict(StatusCode::OK, ok).is_ok());

        let tool_error = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"NOT_FOUND: no"}],"isError":true}}"#;
        let why = quick_verdict(StatusCode::OK, tool_error).expect_err("tool error");
        assert!(why.contains("NOT_FOUND"), "{why}");

        let rpc_error =
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad params"}}"#;
        let why = quick_verdict(StatusCode::OK, rpc_error).expect_err("rpc error");
        assert!(why.contains("bad params"), "{why}");

        assert!(quick_verdict(StatusCode::UNAUTHORIZED, b"").is_err());
    }

    #[test]
    fn quoted_keys_inside_strings_do_not_fool_the_verdict() {
        let text = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"say \"isError\":true"}]}}"#;
        assert!(quick_verdict(StatusCode::OK, text).is_ok());
    }

    #[test]
    fn structured_content_is_extracted() {
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"structuredContent":{"item":{"id":"a1"}}}}"#;
        let content = structured_content(StatusCode::OK, body).expect("content");
        assert_eq!(content["item"]["id"], "a1");
    }
}
