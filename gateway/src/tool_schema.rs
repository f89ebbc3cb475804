//! Tool definitions as strict hosts and validators want them.
//!
//! schemars writes `true` (the schema that accepts anything) for a
//! `serde_json::Value` field; the 2025 MCP wire schemas require every
//! property schema to be an object, and hosts that validate reject the whole
//! `tools/list` over one such property. Every registered tool passes through
//! [`for_the_wire`] once, at start, so no tool can forget it.

use rmcp::model::{JsonObject, Tool};
use serde_json::Value;

/// Keywords whose value maps names to subschemas.
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Rewrites boolean subschemas as their object forms (`true` → `{}`,
/// `false` → `{"not": {}}`), and copies the tool's title into its
/// annotations, where hosts that predate `Tool.title` look for it.
pub fn for_the_wire(tool: &mut Tool) {
    let mut input = (*tool.input_schema).clone();
    objects_only(&mut input);
    tool.input_schema = input.into();
    if let Some(output) = &tool.output_schema {
        let mut output = (**output).clone();
        objects_only(&mut output);
        tool.output_schema = Some(output.into());
    }
    if let (Some(title), Some(annotations)) = (&tool.title, &mut tool.annotations) {
        annotations.title.get_or_insert_with(|| title.clone());
    }
}

fn objects_only(schema: &mut JsonObject) {
    for (keyword, value) in schema.iter_mut() {
        match value {
            Value::Object(map) if SCHEMA_MAPS.contains(&keyword.as_str()) => {
                for sub in map.values_mut() {
                    if let Value::Bool(accepts) = sub {
                        *sub = boolean_as_object(*accepts);
                    }
                }
                for sub in map.values_mut() {
                    descend(sub);
                }
            }
            other => descend(other),
        }
    }
}

fn descend(value: &mut Value) {
    match value {
        Value::Object(map) => objects_only(map),
        Value::Array(items) => items.iter_mut().for_each(descend),
        _ => {}
    }
}

fn boolean_as_object(accepts: bool) -> Value {
    if accepts {
        Value::Object(JsonObject::new())
    } else {
        serde_json::json!({"not": {}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn boolean_property_schemas_become_objects_at_any_depth() {
        let mut schema = object(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {"state": true, "never": false, "n": {"type": "integer"}},
            "$defs": {"Saved": {"type": "object", "properties": {"state": true}}},
            "anyOf": [{"properties": {"x": true}}]
        }));
        objects_only(&mut schema);
        assert_eq!(
            Value::Object(schema),
            json!({
                "type": "object",
                // Not a property schema: booleans stay where they are idiomatic.
                "additionalProperties": false,
                "properties": {"state": {}, "never": {"not": {}}, "n": {"type": "integer"}},
                "$defs": {"Saved": {"type": "object", "properties": {"state": {}}}},
                "anyOf": [{"properties": {"x": {}}}]
            })
        );
    }

    #[test]
    fn the_title_reaches_the_annotations() {
        let mut tool = Tool::new("t", "does t", JsonObject::new())
            .with_title("A title")
            .with_annotations(rmcp::model::ToolAnnotations::new().read_only(true));
        for_the_wire(&mut tool);
        assert_eq!(
            tool.annotations.and_then(|a| a.title).as_deref(),
            Some("A title")
        );
    }
}
