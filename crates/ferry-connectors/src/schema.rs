//! The JSON Schemas users see, assembled from the registry: the task
//! (job file, API body) with one schema per source and sink connector in
//! place of core's placeholders, and the named connections.
//!
//! Each connector gives the schema of its own typed spec; this module adds
//! the `type` property that picks it (its name, or an alias) and puts them
//! side by side in a `oneOf`.

use ferry_core::spec::task_json_schema as core_task_schema;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::connector::Connector;
use crate::registry::Entry;

fn generator() -> SchemaGenerator {
    SchemaGenerator::new(SchemaSettings::draft2020_12())
}

fn built() -> Vec<&'static dyn Connector> {
    crate::registry()
        .into_iter()
        .filter_map(|e| match e {
            Entry::Built(c) => Some(c),
            Entry::NotBuilt(_) => None,
        })
        .collect()
}

/// `schema` with the `type` property that selects `connector`, required.
fn tagged(connector: &dyn Connector, schema: Schema, extra: &Map<String, Value>) -> Value {
    let mut v = schema.to_value();
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    let names: Vec<&str> = std::iter::once(connector.name())
        .chain(connector.aliases().iter().copied())
        .collect();
    let type_schema = if names.len() == 1 {
        json!({"type": "string", "const": connector.name()})
    } else {
        json!({"type": "string", "enum": names})
    };
    let props = obj
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(p) = props.as_object_mut() {
        p.insert("type".into(), type_schema);
        for (k, s) in extra {
            p.insert(k.clone(), s.clone());
        }
    }
    let required = obj
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(r) = required.as_array_mut() {
        r.insert(0, json!("type"));
    }
    obj.insert("title".into(), json!(connector.name()));
    obj.insert("description".into(), json!(connector.description()));
    v
}

/// Moves the generator's definitions into `root`'s `$defs`.
fn add_definitions(root: &mut Value, mut generator: SchemaGenerator) {
    let defs = generator.take_definitions(true);
    if defs.is_empty() {
        return;
    }
    if let Some(obj) = root.as_object_mut() {
        let target = obj
            .entry("$defs")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(t) = target.as_object_mut() {
            for (k, v) in defs {
                t.entry(k).or_insert(v);
            }
        }
    }
}

/// The JSON Schema of a task (job file or API body), with every source and
/// sink connector of this build.
pub fn task_json_schema() -> Value {
    let mut root = core_task_schema();
    let mut g = generator();
    let none = Map::new();
    let mut sources = Vec::new();
    let mut sinks = Vec::new();
    for c in built() {
        if let Some(s) = c.source_schema(&mut g) {
            sources.push(tagged(c, s, &none));
        }
        if let Some(s) = c.sink_schema(&mut g) {
            sinks.push(tagged(c, s, &none));
        }
    }
    if let Some(defs) = root.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert(
            "SourceSpec".into(),
            json!({"description": "Where the data comes from: `type` picks the connector.", "oneOf": sources}),
        );
        defs.insert(
            "SinkSpec".into(),
            json!({"description": "Where the data goes: `type` picks the connector.", "oneOf": sinks}),
        );
    }
    add_definitions(&mut root, g);
    root
}

/// The JSON Schema of a named connection's settings, one alternative per
/// connector of this build that has connections; `extra` properties (e.g.
/// the API's `name` and `revision`) are added to each, `required` extra
/// ones too. Definitions the connectors refer to are in `$defs`.
pub fn connection_json_schema(extra: &Map<String, Value>, required: &[&str]) -> Value {
    let mut g = generator();
    let mut all = Vec::new();
    for c in built() {
        if let Some(s) = c.connection_schema(&mut g) {
            let mut v = tagged(c, s, extra);
            if let Some(r) = v.get_mut("required").and_then(Value::as_array_mut) {
                for name in required {
                    r.push(json!(name));
                }
            }
            all.push(v);
        }
    }
    let mut root = json!({
        "description": "What a connection reaches: `type` picks the connector.",
        "oneOf": all
    });
    add_definitions(&mut root, g);
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connector_is_in_the_task_schema() {
        let s = task_json_schema();
        let text = s.to_string();
        for c in built() {
            assert!(text.contains(&format!("\"{}\"", c.name())), "{}", c.name());
        }
        let sources = s["$defs"]["SourceSpec"]["oneOf"].as_array().expect("oneOf");
        assert_eq!(sources.len(), built().len());
        for alt in sources {
            assert_eq!(alt["required"][0], "type");
            assert_eq!(alt["additionalProperties"], false, "{alt}");
        }
    }
}
