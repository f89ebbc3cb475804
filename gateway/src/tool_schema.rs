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

/// The root properties of `schema`, each with its `#/$defs/…` references
/// replaced by what they name, so they can be moved into another schema.
/// A reference that names nothing, or a type that contains itself, is left
/// as `{}` (any value) rather than dangling.
pub(crate) fn properties(schema: &JsonObject) -> Vec<(String, Value)> {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object);
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| (name.clone(), inline(property, defs, 0)))
        .collect()
}

fn inline(value: &Value, defs: Option<&JsonObject>, depth: usize) -> Value {
    // Deeper than any struct an app returns at the start of a session.
    const MAX_DEPTH: usize = 16;
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let name = target
                    .strip_prefix("#/$defs/")
                    .or_else(|| target.strip_prefix("#/definitions/"));
                let found = name.and_then(|name| defs?.get(name));
                let mut named = match found {
                    Some(def) if depth < MAX_DEPTH => inline(def, defs, depth + 1),
                    _ => Value::Object(JsonObject::new()),
                };
                // Keywords beside the reference (a field's description) stay.
                if let Value::Object(named) = &mut named {
                    for (key, sub) in map.iter().filter(|(key, _)| *key != "$ref") {
                        named.insert(key.clone(), inline(sub, defs, depth));
                    }
                }
                return named;
            }
            Value::Object(
                map.iter()
                    .map(|(key, sub)| (key.clone(), inline(sub, defs, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| inline(i, defs, depth)).collect()),
        other => other.clone(),
    }
}

/// Publishes the fields the app adds to `begin_session` in its output
/// schema, under `app`, so hosts and models see their shape and docs.
pub(crate) fn publish_app_fields(begin_session: &mut Tool, fields: &JsonObject) {
    let Some(output) = &begin_session.output_schema else {
        return;
    };
    if fields.is_empty() {
        return;
    }
    let mut output = (**output).clone();
    if let Some(Value::Object(properties)) = output.get_mut("properties") {
        properties.insert(
            "app".into(),
            serde_json::json!({
                "description": "What the app adds for the start of a conversation.",
                "type": "object",
                "properties": fields,
            }),
        );
    }
    begin_session.output_schema = Some(output.into());
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
    fn moved_properties_carry_what_their_references_named() {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "learner": {"$ref": "#/$defs/Learner"},
                "dangling": {"$ref": "#/$defs/Nowhere"},
                "looped": {"$ref": "#/$defs/Node"}
            },
            "$defs": {
                "Learner": {"type": "object", "properties": {"position": {"anyOf": [{"$ref": "#/$defs/Position"}, {"type": "null"}]}}},
                "Position": {"type": "object", "properties": {"step": {"type": "integer"}}},
                "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}
            }
        }));
        let moved: JsonObject = properties(&schema).into_iter().collect();
        assert_eq!(
            moved["learner"],
            json!({"type": "object", "properties": {"position": {"anyOf": [
                {"type": "object", "properties": {"step": {"type": "integer"}}},
                {"type": "null"}
            ]}}})
        );
        assert_eq!(moved["dangling"], json!({}));
        assert!(
            !moved["looped"].to_string().contains("$ref"),
            "{}",
            moved["looped"]
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
