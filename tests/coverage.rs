//! Protocol coverage, measured rather than declared: every creatable class is created, every
//! invoke operation of the kmd (6.18 and 7.x) is called on an instance, and an operation counts as
//! implemented when it answers anything but NOT_IMPLEMENTED (40006). Getters must all answer.
//! The report is printed and written to target/coverage.md for the README.

use futures_util::{SinkExt, StreamExt};
use kurento_protocol::model::{self, KmdVersion};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_tungstenite::{connect_async, tungstenite::Message};

#[tokio::test]
async fn coverage_report() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.webrtc.network_interfaces = Some(vec!["lo".into()]);
    let s = kurento_media_server::server::start(o).await.unwrap();
    let (mut ws, _) = connect_async(format!("ws://{}/kurento", s.ws_addr.unwrap()))
        .await
        .unwrap();
    let mut next = 0u64;
    let mut call = async |ws: &mut _, method: &str, params: Value| -> Value {
        let ws: &mut tokio_tungstenite::WebSocketStream<_> = ws;
        next += 1;
        let id = next;
        ws.send(Message::text(
            json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string(),
        ))
        .await
        .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(25), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == json!(id) {
                    return v;
                }
            }
        }
    };
    let m = model::model();
    let sid = call(&mut ws, "connect", json!({})).await["result"]["sessionId"].clone();
    let pipe = call(
        &mut ws,
        "create",
        json!({"type":"MediaPipeline","sessionId":sid}),
    )
    .await["result"]["value"]
        .clone();
    let composite = call(
        &mut ws,
        "create",
        json!({"type":"Composite","constructorParams":{"mediaPipeline":pipe},"sessionId":sid}),
    )
    .await["result"]["value"]
        .clone();
    // One instance per creatable class.
    let mut instances: BTreeMap<String, Value> = BTreeMap::new();
    instances.insert("MediaPipeline".into(), pipe.clone());
    instances.insert("ServerManager".into(), json!("manager_ServerManager"));
    let mut not_creatable = Vec::new();
    let window = json!({"topRightCornerX": 0, "topRightCornerY": 0, "width": 10, "height": 10});
    for c in m.creatable_classes() {
        if c.name == "MediaPipeline" {
            continue;
        }
        let ctor = match c.name.as_str() {
            "HubPort" => json!({"hub": composite}),
            "PlayerEndpoint" | "RecorderEndpoint" => {
                json!({"mediaPipeline": pipe, "uri": "file:///tmp/x.webm"})
            }
            "GStreamerFilter" => json!({"mediaPipeline": pipe, "command": "videoflip method=1"}),
            "ChromaFilter" => json!({"mediaPipeline": pipe, "window": window}),
            "PointerDetectorFilter" => {
                json!({"mediaPipeline": pipe, "calibrationRegion": window})
            }
            "CrowdDetectorFilter" => json!({"mediaPipeline": pipe, "rois": [{
                "id": "r", "points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}],
                "regionOfInterestConfig": {}
            }]}),
            _ => json!({"mediaPipeline": pipe}),
        };
        let r = call(
            &mut ws,
            "create",
            json!({"type": c.name, "constructorParams": ctor, "sessionId": sid}),
        )
        .await;
        match r["result"]["value"].as_str() {
            Some(id) => {
                let d = call(&mut ws, "describe", json!({"object": id, "sessionId": sid})).await;
                assert_eq!(d["result"]["type"], json!(c.name), "{d}");
                instances.insert(c.name.clone(), json!(id));
            }
            None => not_creatable.push(format!("{} ({})", c.name, r["error"])),
        }
    }
    let mut report = String::from("| kmd | classes creatable | invoke operations implemented | getters answering | events emitted |\n|---|---|---|---|---|\n");
    let mut failing_getters = Vec::new();
    for v in [KmdVersion::V6, KmdVersion::V7] {
        let ops = m.version_operations(v);
        let creatable = m.version_creatable_classes(v);
        let mut implemented = 0;
        let mut getters = (0, 0);
        let mut missing: BTreeSet<String> = BTreeSet::new();
        for (class, op) in &ops {
            // Implemented when any instance of the class or of a concrete subclass answers it.
            let objs: Vec<&Value> = instances
                .iter()
                .filter(|(n, _)| m.is_a(n, class))
                .map(|(_, o)| o)
                .collect();
            if objs.is_empty() {
                missing.insert(format!("{class}.{op} (no instance)"));
                continue;
            }
            let is_getter = matches!(
                m.find_operation(class, op),
                Some(model::Operation::Get { .. })
            );
            let mut answered = false;
            for obj in objs {
                let r = call(
                    &mut ws,
                    "invoke",
                    json!({"object": obj, "operation": op, "sessionId": sid}),
                )
                .await;
                let code = r["error"]["code"].as_i64();
                if is_getter && code.is_some() {
                    failing_getters.push(format!("{class}.{op} on {obj}: {}", r["error"]));
                }
                answered |= code != Some(40006);
            }
            if is_getter {
                getters.1 += 1;
                getters.0 += usize::from(answered);
            }
            if answered {
                implemented += 1;
            } else {
                missing.insert(format!("{class}.{op}"));
            }
        }
        let events = m.version_events(v);
        let emitted = events
            .iter()
            .filter(|(_, e)| kurento_media_server::objects::EMITTED_EVENTS.contains(&e.as_str()))
            .count();
        report += &format!(
            "| {} | {}/{} | {}/{} | {}/{} | {}/{} |\n",
            match v {
                KmdVersion::V6 => "6.18",
                KmdVersion::V7 => "7.x",
            },
            creatable
                .iter()
                .filter(|c| instances.contains_key(c.as_str()))
                .count(),
            creatable.len(),
            implemented,
            ops.len(),
            getters.0,
            getters.1,
            emitted,
            events.len()
        );
        report += &format!(
            "\nNot implemented ({}): {}\n\n",
            match v {
                KmdVersion::V6 => "6.18",
                KmdVersion::V7 => "7.x",
            },
            missing.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    println!("\n== Protocol coverage ==\n{report}");
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/coverage.md"),
        &report,
    );
    assert!(not_creatable.is_empty(), "not creatable: {not_creatable:?}");
    assert!(
        failing_getters.is_empty(),
        "getters failing: {failing_getters:?}"
    );
}
