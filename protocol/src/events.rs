//! Event naming and the `data` every event carries. KMS 6.18 raises deprecated names next to the
//! current ones; a subscriber gets only the name it subscribed to. This table is the one place
//! that knows which names travel together.

use serde_json::{json, Map, Value};

/// Current name → deprecated aliases that KMS 6.18 still raises alongside it.
const ALIASES: &[(&str, &[&str])] = &[
    ("IceCandidateFound", &["OnIceCandidate"]),
    ("IceGatheringDone", &["OnIceGatheringDone"]),
    (
        "IceComponentStateChanged",
        &["IceComponentStateChange", "OnIceComponentStateChanged"],
    ),
    (
        "DataChannelOpened",
        &["DataChannelOpen", "OnDataChannelOpened"],
    ),
    (
        "DataChannelClosed",
        &["DataChannelClose", "OnDataChannelClosed"],
    ),
    ("MediaFlowInStateChanged", &["MediaFlowInStateChange"]),
    ("MediaFlowOutStateChanged", &["MediaFlowOutStateChange"]),
    (
        "MediaTranscodingStateChanged",
        &["MediaTranscodingStateChange"],
    ),
];

/// Every name under which an event raised as `name` is delivered (itself first).
pub fn names_for(name: &str) -> Vec<&str> {
    let mut v = vec![name];
    if let Some((_, aliases)) = ALIASES.iter().find(|(n, _)| *n == name) {
        v.extend_from_slice(aliases);
    }
    v
}

/// Events that do not derive from `Media` and so carry no `type` = event name in their data.
fn is_raise_base_only(name: &str) -> bool {
    matches!(name, "Error" | "ObjectCreated" | "ObjectDestroyed")
}

/// Builds the `data` of an event as delivered under `delivered_as`: the event's own fields plus
/// RaiseBase's (`source`, `timestamp` and `timestampMillis` as strings, `tags`) and, for Media
/// events, `type` = the delivered name.
pub fn event_data(
    delivered_as: &str,
    source: &str,
    fields: &Map<String, Value>,
    tags: &[(String, String)],
    now_millis: u128,
) -> Value {
    let mut data = Map::new();
    for (k, v) in fields {
        data.insert(k.clone(), v.clone());
    }
    data.insert("source".into(), source.into());
    data.insert("timestamp".into(), (now_millis / 1000).to_string().into());
    data.insert("timestampMillis".into(), now_millis.to_string().into());
    data.insert(
        "tags".into(),
        Value::Array(
            tags.iter()
                .map(|(k, v)| json!({"__module__": "kurento", "__type__": "Tag", "key": k, "value": v}))
                .collect(),
        ),
    );
    if !is_raise_base_only(delivered_as) {
        data.insert("type".into(), delivered_as.into());
    }
    Value::Object(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_current_names() {
        assert_eq!(
            names_for("IceCandidateFound"),
            vec!["IceCandidateFound", "OnIceCandidate"]
        );
        assert_eq!(names_for("ElementConnected"), vec!["ElementConnected"]);
        assert_eq!(names_for("IceComponentStateChanged").len(), 3);
    }

    #[test]
    fn data_has_common_fields() {
        let mut f = Map::new();
        f.insert("sink".into(), "x".into());
        let d = event_data(
            "ElementConnected",
            "src",
            &f,
            &[("a".into(), "b".into())],
            1_700_000_000_123,
        );
        assert_eq!(d["timestamp"], "1700000000");
        assert_eq!(d["timestampMillis"], "1700000000123");
        assert_eq!(d["type"], "ElementConnected");
        assert_eq!(d["tags"][0]["__type__"], "Tag");
        let e = event_data(
            "Error",
            "src",
            &{
                let mut m = Map::new();
                m.insert("type".into(), "STREAM_ERROR_FAILED".into());
                m
            },
            &[],
            0,
        );
        assert_eq!(
            e["type"], "STREAM_ERROR_FAILED",
            "Error keeps its error type"
        );
    }
}
