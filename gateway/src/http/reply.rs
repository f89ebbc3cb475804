//! The JSON-RPC answer to a directly answered request, written as rmcp's
//! JSON mode writes it.
//!
//! A tool result holds its JSON twice: as `structuredContent`, and as a
//! text block for hosts that read only `content`. A domain tool's answer
//! arrives here as that text alone (`domain/answer.rs`), and is written in
//! both places: as it is for `structuredContent`, escaped for the text. The
//! escaping is done here rather than by `serde_json`, which looks up each
//! byte in turn: eight bytes are checked at once and the runs between
//! escapes (a JSON text's quotes) are copied whole. Everything else (the
//! `id`, other blocks, errors) is `serde_json`'s. The tests hold the output
//! equal to `serde_json::to_vec` of the message, byte for byte.

use rmcp::model::{
    CallToolResult, ContentBlock, JsonRpcResponse, ServerJsonRpcMessage, ServerResult,
};
use serde::Serialize;

/// `message` as rmcp's JSON mode writes it. With `text_is_structured`, a
/// tool result of one text block and no `structuredContent` is a domain
/// answer's text alone (`WrittenOnce`), and gets that text as its
/// `structuredContent` as well.
pub(super) fn write(
    message: &ServerJsonRpcMessage,
    text_is_structured: bool,
) -> serde_json::Result<Vec<u8>> {
    match message {
        ServerJsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: _,
            id,
            result: ServerResult::CallToolResult(result),
        }) => {
            let mut out = Vec::with_capacity(room_for(result));
            out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
            serde_json::to_writer(&mut out, id)?;
            out.extend_from_slice(br#","result":"#);
            write_call_result(&mut out, result, text_is_structured)?;
            out.push(b'}');
            Ok(out)
        }
        other => {
            let mut out = Vec::with_capacity(ENVELOPE_ROOM);
            serde_json::to_writer(&mut out, other)?;
            Ok(out)
        }
    }
}

/// Room for a reply's envelope and a short answer.
const ENVELOPE_ROOM: usize = 256;

/// `result` as its derived `Serialize` writes it: its fields in their
/// declared order, the optional ones only when set. rmcp may add fields
/// (the type is non-exhaustive): when upgrading it, set any new one in the
/// byte-for-byte test's `every_field`, which fails until it is written here.
fn write_call_result(
    out: &mut Vec<u8>,
    result: &CallToolResult,
    text_is_structured: bool,
) -> serde_json::Result<()> {
    let answer = match (&result.content[..], &result.structured_content) {
        ([ContentBlock::Text(text)], None) if text_is_structured => Some(text.text.as_str()),
        _ => None,
    };
    out.push(b'{');
    if let Some(result_type) = &result.result_type {
        field(out, "resultType", result_type)?;
        out.push(b',');
    }
    out.extend_from_slice(br#""content":["#);
    for (n, block) in result.content.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        match block {
            ContentBlock::Text(text) if text.meta.is_none() && text.annotations.is_none() => {
                out.extend_from_slice(br#"{"type":"text","text":""#);
                escape_into(out, &text.text);
                out.extend_from_slice(br#""}"#);
            }
            other => serde_json::to_writer(&mut *out, other)?,
        }
    }
    out.push(b']');
    if let Some(structured) = &result.structured_content {
        out.push(b',');
        field(out, "structuredContent", structured)?;
    } else if let Some(answer) = answer {
        out.extend_from_slice(br#","structuredContent":"#);
        out.extend_from_slice(answer.as_bytes());
    }
    if let Some(is_error) = &result.is_error {
        out.push(b',');
        field(out, "isError", is_error)?;
    }
    if let Some(meta) = &result.meta {
        out.push(b',');
        field(out, "_meta", meta)?;
    }
    out.push(b'}');
    Ok(())
}

fn field(out: &mut Vec<u8>, name: &str, value: &impl Serialize) -> serde_json::Result<()> {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *out, value)
}

/// Appends `text` as the inside of a JSON string, escaped as `serde_json`
/// escapes it: `"`, `\` and the control characters, nothing else.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // `bytes[copied..at]` needs no escape and is not yet written.
    let (mut copied, mut at) = (0, 0);
    while at < bytes.len() {
        let next = match bytes.get(at..at + 8) {
            // Straight to the word's first byte that needs an escape, if any.
            Some(word) => match first_needing_escape(u64::from_le_bytes(
                word.try_into().expect("eight bytes"),
            )) {
                Some(offset) => at + offset,
                None => {
                    at += 8;
                    continue;
                }
            },
            // The last few bytes, one at a time.
            None => match bytes[at..].iter().position(|&b| needs_escape(b)) {
                Some(offset) => at + offset,
                None => break,
            },
        };
        out.extend_from_slice(&bytes[copied..next]);
        push_escape(out, bytes[next]);
        (copied, at) = (next + 1, next + 1);
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// Where the first of the eight bytes of `word` (read little-endian) that
/// is `"`, `\` or below 0x20 is, if one is.
///
/// The classic bit trick: `(x - 0x01…01) & !x & 0x80…80` marks the bytes
/// of `x` that are zero, and with `0x20…20` in place of `0x01…01`, those
/// below 0x20. A borrow can mark a byte above a marked one falsely, never
/// one below it, so the lowest mark is exact.
fn first_needing_escape(word: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let marks = below(word, 0x20)
        | below(word ^ (ONES * u64::from(b'"')), 1)
        | below(word ^ (ONES * u64::from(b'\\')), 1);
    (marks != 0).then(|| marks.trailing_zeros() as usize / 8)
}

/// Whether `serde_json` escapes `byte` inside a string.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends the escape `serde_json` writes for `byte` (one that needs one).
fn push_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&hex);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// Room for a tool result's reply once written, so writing it does not
/// copy it as the buffer grows. A domain answer is written twice: as
/// `structuredContent` (as long as the text) and as the text, escaped (at
/// most twice as long: JSON text holds no raw control characters).
fn room_for(result: &CallToolResult) -> usize {
    let text: usize = result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|block| block.text.len())
        .sum();
    ENVELOPE_ROOM + text * 3
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        Annotations, ErrorData, MetaObject, NumberOrString, ResultType, Role, TextContent,
    };
    use serde_json::json;

    use super::*;

    fn answer(result: CallToolResult, id: NumberOrString) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::response(ServerResult::CallToolResult(result), id)
    }

    /// Every byte that could be escaped, and the runs around them at every
    /// offset from a word's start.
    fn awkward_texts() -> Vec<String> {
        let mut texts: Vec<String> = (0u8..0x80)
            .map(|b| format!("ab{}cdefghijklmnop", char::from(b)))
            .collect();
        for offset in 0..17 {
            texts.push(format!("{}\"{}\\", "x".repeat(offset), "y".repeat(offset)));
        }
        texts.push(String::new());
        texts.push("é, ü, 日本語, 🙂 \u{7f} \u{2028}".into());
        texts.push(
            serde_json::to_string(&json!({"item": {"body": "line\n\"quoted\"\t\\ end"}}))
                .expect("json"),
        );
        texts
    }

    #[test]
    fn a_text_is_escaped_as_serde_json_escapes_it() {
        for text in awkward_texts() {
            let mut ours = Vec::new();
            escape_into(&mut ours, &text);
            let theirs = serde_json::to_vec(&text).expect("a string");
            assert_eq!(ours, theirs[1..theirs.len() - 1], "{text:?}");
        }
    }

    #[test]
    fn the_eight_byte_check_finds_the_first_byte_that_needs_an_escape() {
        let first = |word: [u8; 8]| word.iter().position(|&b| needs_escape(b));
        for byte in 0u8..=255 {
            for place in 0..8 {
                let mut word = [b'a'; 8];
                word[place] = byte;
                assert_eq!(
                    first_needing_escape(u64::from_le_bytes(word)),
                    first(word),
                    "byte {byte:#x} at {place}"
                );
            }
        }
        // Several marked bytes, where a borrow could mark one falsely:
        // words drawn from bytes on each side of every boundary.
        let near = [
            0x00, 0x01, 0x1f, 0x20, 0x21, b'"', b'#', b'[', b'\\', b']', b'a', 0x7f, 0x80, 0xa2,
            0xdc, 0xff,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            let mut word = [0u8; 8];
            for byte in &mut word {
                // xorshift64: a fixed sequence, the same every run.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = near[(state % near.len() as u64) as usize];
            }
            assert_eq!(
                first_needing_escape(u64::from_le_bytes(word)),
                first(word),
                "{word:x?}"
            );
        }
    }

    #[test]
    fn answers_are_written_byte_for_byte_as_serde_json_writes_them() {
        let mut results = Vec::new();
        for text in awkward_texts() {
            let structured = json!({"text": text, "n": [1, 2.5, null, true]});
            results.push(CallToolResult::structured(structured));
            results.push(CallToolResult::success(vec![ContentBlock::text(
                text.clone(),
            )]));
            results.push(CallToolResult::error(vec![ContentBlock::text(text)]));
        }
        let mut every_field = CallToolResult::structured(json!({"a": 1}));
        every_field.result_type = Some(ResultType::COMPLETE);
        every_field.meta = Some(MetaObject(
            json!({"k": "v"}).as_object().cloned().expect("object"),
        ));
        every_field.is_error = Some(false);
        every_field.content.push(ContentBlock::Text(
            TextContent::new("with annotations")
                .with_annotations(Annotations::default().with_audience(vec![Role::User])),
        ));
        every_field
            .content
            .push(ContentBlock::image("AAAA", "image/png"));
        results.push(every_field);
        let mut bare = CallToolResult::success(Vec::new());
        bare.result_type = None;
        bare.is_error = None;
        results.push(bare);

        for (n, result) in results.into_iter().enumerate() {
            for id in [
                NumberOrString::Number(n as i64),
                NumberOrString::String(format!("q\"{n}").into()),
            ] {
                let room = room_for(&result);
                let message = answer(result.clone(), id);
                let ours = write(&message, false).expect("writes");
                let theirs = serde_json::to_vec(&message).expect("writes");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                );
                assert!(room >= ours.len(), "room for case {n}");
            }
        }
        let error = ServerJsonRpcMessage::error(
            ErrorData::invalid_params("no", None),
            Some(NumberOrString::Number(1)),
        );
        assert_eq!(
            write(&error, true).expect("writes"),
            serde_json::to_vec(&error).expect("writes")
        );
    }

    /// A domain answer's text alone, written with its text as the
    /// structured content: the answer rmcp writes for the same JSON. (The
    /// texts here have `Value`'s sorted keys, so the bytes are equal; a
    /// typed answer keeps its fields' order, which rmcp's `Value` sorts.)
    #[test]
    fn an_answer_written_once_is_the_answer_rmcp_writes_for_the_same_json() {
        for text in awkward_texts() {
            let value = json!({"item": {"body": text, "tags": ["a", "b"]}, "reminder": "R."});
            let alone = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
            let message = answer(alone.clone(), NumberOrString::Number(7));
            let ours = write(&message, true).expect("writes");
            assert!(room_for(&alone) >= ours.len(), "room for {text:?}");
            let rmcps = serde_json::to_vec(&answer(
                CallToolResult::structured(value.clone()),
                NumberOrString::Number(7),
            ))
            .expect("writes");
            assert_eq!(ours, rmcps, "{text:?}");

            // Without the flag, or in any other shape, nothing is added.
            let plain = answer(alone.clone(), NumberOrString::Number(7));
            assert_eq!(
                write(&plain, false).expect("writes"),
                serde_json::to_vec(&plain).expect("writes")
            );
            let mut two_blocks = alone.clone();
            two_blocks.content.push(ContentBlock::text("more"));
            let two = answer(two_blocks, NumberOrString::Number(7));
            assert_eq!(
                write(&two, true).expect("writes"),
                serde_json::to_vec(&two).expect("writes")
            );
        }
    }
}
