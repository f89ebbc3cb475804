//! A domain tool's answer, written once as JSON.
//!
//! An MCP tool result carries a structured answer twice: as
//! `structuredContent`, and as a text block of the same JSON for hosts that
//! read only `content`. A domain tool's typed answer is written as compact
//! JSON once, here, straight from its type. Where the gateway writes the
//! reply itself (`http/direct.rs`, which puts a [`WrittenOnce`] in the call's
//! extensions) that text is all the result holds, and the reply carries it
//! in both places. Where rmcp writes the reply, the text is read back into
//! the `Value` rmcp's result type holds.
//!
//! Before, the answer became a `Value` (a copy of every string, a map node
//! per field), was written from it as the text, and the `Value` was written
//! again inside the reply: about a third of a `domain_get_item`'s
//! allocations and a quarter of its instructions (`docs/performance.md`).

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;
use serde_json::Value;

use super::registry::REMINDER;

/// The compact JSON text of an object: a domain tool's answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjectJson(String);

/// Room to start writing an answer in; most fit, and a longer one grows
/// from here rather than from nothing.
const START_ROOM: usize = 1024;

impl ObjectJson {
    /// `output` written as JSON, or why it could not be: it failed to
    /// serialise, or is not an object (the registry publishes an object
    /// schema for every tool, so a custom `Serialize` that writes something
    /// else is the app's bug).
    pub(crate) fn write(output: &impl Serialize) -> Result<Self, String> {
        let mut text = Vec::with_capacity(START_ROOM);
        serde_json::to_writer(&mut text, output).map_err(|e| e.to_string())?;
        if text.first() != Some(&b'{') {
            return Err("it is not a JSON object".into());
        }
        Ok(Self(
            String::from_utf8(text).expect("serde_json writes UTF-8"),
        ))
    }

    /// `text` read back (an action's stored outcome), checked to be an object.
    pub(crate) fn read(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<serde_json::Map<String, Value>>(&text)?;
        Ok(Self(text))
    }

    /// With `"reminder": reminder_json` added as its last field, where
    /// `reminder_json` is the reminder already written as a JSON string
    /// (it is the same for every answer). The registry refuses answer types
    /// with a `reminder` field of their own.
    pub(crate) fn with_reminder(self, reminder_json: &str) -> Self {
        let mut text = self.0;
        text.pop(); // the closing brace
        if text.len() > 1 {
            text.push(',');
        }
        text.push('"');
        text.push_str(REMINDER);
        text.push_str("\":");
        text.push_str(reminder_json);
        text.push('}');
        Self(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// As a tool result. With `once` (the reply's writer puts the text in
    /// both places), the text alone, and `once` marked; without it, the text
    /// and the same JSON as `structuredContent`, as rmcp's
    /// `CallToolResult::structured` makes it.
    pub(crate) fn into_result(self, once: Option<&WrittenOnce>) -> CallToolResult {
        if let Some(once) = once {
            once.0.store(true, Ordering::Release);
            return CallToolResult::success(vec![ContentBlock::text(self.0)]);
        }
        let value: Value = serde_json::from_str(&self.0).expect("written as JSON here");
        let mut result = CallToolResult::success(vec![ContentBlock::text(self.0)]);
        result.structured_content = Some(value);
        result
    }
}

/// In a call's extensions where the reply's writer can take an answer's
/// text alone and write it as the structured content too.
#[derive(Debug, Clone, Default)]
pub(crate) struct WrittenOnce(Arc<AtomicBool>);

impl WrittenOnce {
    /// Whether the call's result is an answer's text alone, whose
    /// `structuredContent` the writer must add.
    pub(crate) fn text_is_structured(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    struct Item<'a> {
        id: &'a str,
        tags: Vec<&'a str>,
        body: &'a str,
    }

    #[test]
    fn an_answer_is_the_json_of_its_type_with_the_reminder_last() {
        let item = Item {
            id: "a1",
            tags: vec!["sea", "moon"],
            body: "She said \"now\"\n\tand left. Über — 🌊",
        };
        let answer = ObjectJson::write(&item)
            .expect("an object")
            .with_reminder(&json!("Rules: be \"kind\".").to_string());
        assert_eq!(
            answer.as_str(),
            r#"{"id":"a1","tags":["sea","moon"],"body":"She said \"now\"\n\tand left. Über — 🌊","reminder":"Rules: be \"kind\"."}"#
        );
        let empty = ObjectJson::write(&json!({})).expect("an object");
        assert_eq!(
            empty.with_reminder(r#""R""#).as_str(),
            r#"{"reminder":"R"}"#
        );

        for not_an_object in [json!([1]), json!("text"), json!(null)] {
            let refused = ObjectJson::write(&not_an_object).expect_err("refused");
            assert!(refused.contains("not a JSON object"), "{refused}");
        }
        assert!(ObjectJson::read("[1]".into()).is_err());
        assert!(ObjectJson::read(r#"{"a":"#.into()).is_err());
        assert_eq!(
            ObjectJson::read(r#"{"a":1}"#.into())
                .expect("an object")
                .as_str(),
            r#"{"a":1}"#
        );
    }

    #[test]
    fn a_result_is_what_rmcp_makes_or_the_text_alone_for_a_writer_that_takes_it() {
        let value = json!({"item": {"id": "a1", "n": [1, 2.5, null]}, "reminder": "R."});
        let answer = ObjectJson::write(&value).expect("an object");

        assert_eq!(
            answer.clone().into_result(None),
            CallToolResult::structured(value.clone())
        );
        let once = WrittenOnce::default();
        assert!(!once.text_is_structured());
        let alone = answer.into_result(Some(&once));
        assert!(once.text_is_structured());
        assert_eq!(alone.structured_content, None);
        assert_eq!(alone.is_error, Some(false));
        let text = &alone.content[0].as_text().expect("text").text;
        assert_eq!(serde_json::from_str::<Value>(text).expect("JSON"), value);
    }
}
