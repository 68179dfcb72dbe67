//! An operation's input as one self-contained JSON Schema: its path, query, header and cookie
//! parameters grouped by location, and its body. The specification's `$ref`s become
//! references into the schema's own `$defs`.

use std::collections::HashMap;

use trellis_connector_sdk::serde_json::{json, Map, Value};
use trellis_connector_sdk::Error;

use crate::document::resolve_ref;
use crate::model::{Body, Location, Media, Operation};

/// The media type a call uses when the input names none: JSON first, then forms, then the
/// first listed.
pub(crate) fn preferred_media(body: &Body) -> Option<&Media> {
    let rank = |media: &Media| {
        let t = media.content_type.to_ascii_lowercase();
        if t.starts_with("application/json") || t.contains("+json") {
            0
        } else if t.starts_with("application/x-www-form-urlencoded") {
            1
        } else if t.starts_with("multipart/form-data") {
            2
        } else {
            3
        }
    };
    body.media.iter().min_by_key(|media| rank(media))
}

/// Builds the input schema of an operation.
pub(crate) fn input_schema(root: &Value, operation: &Operation) -> Result<Value, Error> {
    let mut defs = Defs::new(root);
    let mut properties = Map::new();
    let mut required = Vec::new();

    for location in Location::ALL {
        let mut group_properties = Map::new();
        let mut group_required = Vec::new();
        for parameter in operation
            .parameters
            .iter()
            .filter(|p| p.location == location)
        {
            let at = format!("{}/parameters", operation.pointer);
            let mut schema = defs.rewrite(&parameter.schema, &at)?;
            if !parameter.description.is_empty() && schema.is_object() {
                schema["description"] = Value::String(parameter.description.clone());
            }
            group_properties.insert(parameter.name.clone(), schema);
            if parameter.required {
                group_required.push(Value::String(parameter.name.clone()));
            }
        }
        if group_properties.is_empty() {
            continue;
        }
        let mut group = json!({
            "type": "object",
            "additionalProperties": false,
            "properties": group_properties,
        });
        if !group_required.is_empty() {
            group["required"] = Value::Array(group_required);
            required.push(json!(location.name()));
        }
        properties.insert(location.name().into(), group);
    }

    if let Some(body) = &operation.body {
        if let Some(media) = preferred_media(body) {
            let at = format!("{}/requestBody", operation.pointer);
            let mut schema = defs.rewrite(&media.schema, &at)?;
            if !body.description.is_empty()
                && schema.is_object()
                && schema.get("description").is_none()
            {
                schema["description"] = Value::String(body.description.clone());
            }
            properties.insert("body".into(), schema);
            if body.required {
                required.push(json!("body"));
            }
        }
        if body.media.len() > 1 {
            let types: Vec<Value> = body.media.iter().map(|m| json!(m.content_type)).collect();
            properties.insert(
                "content_type".into(),
                json!({
                    "enum": types,
                    "default": preferred_media(body).map(|m| m.content_type.clone()),
                    "description": "Media type of the body"
                }),
            );
        }
    }
    properties.insert(
        "parameters".into(),
        json!({
            "type": "object",
            "description": "Parameters by name, as an alternative to path, query, header and cookie; a name used in two locations must go in its location's object"
        }),
    );
    properties.insert(
        "timeout_ms".into(),
        json!({"type": "integer", "minimum": 1, "description": "Total time allowed for the request"}),
    );

    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    if !defs.defs.is_empty() {
        schema["$defs"] = Value::Object(defs.defs);
    }
    Ok(schema)
}

/// The referenced schemas copied into `$defs`, by the pointer they came from.
struct Defs<'a> {
    root: &'a Value,
    names: HashMap<String, String>,
    defs: Map<String, Value>,
}

impl<'a> Defs<'a> {
    fn new(root: &'a Value) -> Self {
        Defs {
            root,
            names: HashMap::new(),
            defs: Map::new(),
        }
    }

    /// Copies a schema, pointing its local `$ref`s into `$defs` and adding their targets.
    fn rewrite(&mut self, schema: &Value, at: &str) -> Result<Value, Error> {
        Ok(match schema {
            Value::Object(map) => {
                let mut copy = Map::with_capacity(map.len());
                for (key, value) in map {
                    if key == "$ref" {
                        if let Value::String(reference) = value {
                            let name = self.define(reference, at)?;
                            copy.insert(key.clone(), json!(format!("#/$defs/{name}")));
                            continue;
                        }
                    }
                    copy.insert(key.clone(), self.rewrite(value, at)?);
                }
                Value::Object(copy)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.rewrite(item, at))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    fn define(&mut self, reference: &str, at: &str) -> Result<String, Error> {
        if let Some(name) = self.names.get(reference) {
            return Ok(name.clone());
        }
        let target = resolve_ref(self.root, reference, at)?;
        let base: String = reference
            .rsplit('/')
            .next()
            .unwrap_or("schema")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = if base.is_empty() {
            "schema".to_string()
        } else {
            base
        };
        let mut name = base.clone();
        let mut counter = 2;
        while self.defs.contains_key(&name) {
            name = format!("{base}_{counter}");
            counter += 1;
        }
        self.names.insert(reference.to_string(), name.clone());
        // Reserve the name before recursing, so cycles end.
        self.defs.insert(name.clone(), Value::Bool(true));
        let pointer = reference.trim_start_matches('#').to_string();
        let copy = self.rewrite(target, &pointer)?;
        self.defs.insert(name.clone(), copy);
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Document;
    use trellis_connector_sdk::json;

    #[test]
    fn groups_parameters_and_copies_refs_into_defs() {
        let root = json!({
            "openapi": "3.0.0",
            "components": {"schemas": {
                "Pet": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "friend": {"$ref": "#/components/schemas/Pet"},
                    "tag": {"$ref": "#/components/schemas/Tag"}}},
                "Tag": {"type": "string"}
            }},
            "paths": {"/pets/{id}": {"put": {
                "operationId": "updatePet",
                "parameters": [
                    {"name": "id", "in": "path", "schema": {"type": "integer"}, "description": "Pet id"},
                    {"name": "dry", "in": "query", "schema": {"type": "boolean"}}
                ],
                "requestBody": {"required": true, "content": {
                    "application/xml": {"schema": {"$ref": "#/components/schemas/Pet"}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                }}
            }}}
        });
        let document = Document::new(root).unwrap();
        let op = document.find("updatePet").unwrap().unwrap();
        let schema = input_schema(&document.root, &op).unwrap();
        assert_eq!(schema["required"], json!(["path", "body"]));
        assert_eq!(schema["properties"]["path"]["required"], json!(["id"]));
        assert_eq!(
            schema["properties"]["path"]["properties"]["id"]["description"],
            json!("Pet id")
        );
        assert!(schema["properties"]["query"].get("required").is_none());
        assert_eq!(schema["properties"]["body"]["$ref"], json!("#/$defs/Pet"));
        assert_eq!(
            schema["$defs"]["Pet"]["properties"]["friend"]["$ref"],
            json!("#/$defs/Pet")
        );
        assert_eq!(schema["$defs"]["Tag"], json!({"type": "string"}));
        assert_eq!(
            schema["properties"]["content_type"]["default"],
            json!("application/json")
        );
    }

    #[test]
    fn missing_schema_ref_names_pointer() {
        let root = json!({
            "openapi": "3.0.0",
            "paths": {"/a": {"post": {"operationId": "a", "requestBody": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}}}}}}
        });
        let document = Document::new(root).unwrap();
        let op = document.find("a").unwrap().unwrap();
        let Err(Error::InvalidConfig(message)) = input_schema(&document.root, &op) else {
            panic!("expected an invalid config");
        };
        assert!(
            message.contains("#/components/schemas/Missing"),
            "{message}"
        );
    }
}
