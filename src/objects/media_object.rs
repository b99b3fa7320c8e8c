//! MediaObject: ids, names, tags, parent/children, creation time.

use super::class::ClassBehaviour;
use super::{MediaObject, Outcome, Registry, ServerFacts};
use kurento_protocol::model::marshal::complex;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let key = p
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let obj = reg
        .get_mut(id)
        .ok_or_else(|| RpcError::object_not_found(id.as_str()))?;
    match method {
        "addTag" => {
            let value = p
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match obj.tags.iter_mut().find(|(k, _)| *k == key) {
                Some(t) => t.1 = value,
                None => obj.tags.push((key, value)),
            }
            Outcome::null()
        }
        "removeTag" => {
            obj.tags.retain(|(k, _)| *k != key);
            Outcome::null()
        }
        "getTag" => match obj.tags.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => Outcome::value(v.clone()),
            None => Err(RpcError::new(
                ErrorKind::MediaObjectTagKeyNotFound,
                format!("Tag key '{key}' not found"),
            )),
        },
        "getTags" => Outcome::value(tags_value(&obj.tags)),
        _ => Err(super::unimplemented::method("MediaObject", method)),
    }
}

pub(crate) fn tags_value(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| {
                let mut m = Map::new();
                m.insert("key".into(), k.clone().into());
                m.insert("value".into(), v.clone().into());
                complex("Tag", m)
            })
            .collect(),
    )
}

fn get(
    _reg: &Registry,
    obj: &MediaObject,
    prop: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    Some(Outcome::value(match prop {
        "id" => obj.id.as_str().into(),
        "name" => obj
            .name
            .clone()
            .unwrap_or_else(|| obj.id.to_string())
            .into(),
        "mediaPipeline" => match &obj.pipeline {
            Some(p) => p.as_str().into(),
            None => Value::Null,
        },
        "parent" => match &obj.parent {
            Some(p) => p.as_str().into(),
            None => Value::Null,
        },
        "children" | "childs" => {
            Value::Array(obj.children.iter().map(|c| c.as_str().into()).collect())
        }
        "sendTagsInEvents" => obj.send_tags_in_events.into(),
        "creationTime" => obj.creation_time.into(),
        _ => return None,
    }))
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "MediaObject",
    implements: |_, _| true,
    invoke,
    get,
    ..ClassBehaviour::EMPTY
};
