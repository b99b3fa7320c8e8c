//! The committed interface model against kurento-protocol.md §9 and KMS's dispatch rules.

use kurento_protocol::model::{model, KmdVersion, Operation};

#[test]
fn totals_match_the_protocol_notes() {
    let t = model().totals();
    // Each generation's own figures (kurento-protocol.md §9) plus the four optional modules:
    // 4 classes, 7 methods, 1 read-write property (processingWidth), 6 events, 5 structs.
    let v6 = t.v6_18;
    assert_eq!(
        (v6.remote_classes, v6.creatable_classes, v6.abstract_classes),
        (29 + 4, 17 + 4, 12)
    );
    assert_eq!(
        (v6.methods, v6.properties, v6.getters, v6.setters),
        (50 + 7, 45 + 1, 45 + 1, 26 + 1)
    );
    assert_eq!(v6.operations, 121 + 9);
    assert_eq!(
        (
            v6.event_types,
            v6.subscribable_events,
            v6.class_event_declarations
        ),
        (38 + 6, 36 + 6, 37 + 6)
    );
    assert_eq!((v6.enums, v6.structs), (21, 32 + 5));

    let v7 = t.v7;
    assert_eq!(
        (v7.remote_classes, v7.creatable_classes, v7.abstract_classes),
        (29 + 4, 17 + 4, 12)
    );
    assert_eq!(
        (v7.methods, v7.properties, v7.getters, v7.setters),
        (52 + 7, 40 + 1, 40 + 1, 21 + 1)
    );
    assert_eq!(v7.operations, 113 + 9);
    assert_eq!(
        (
            v7.event_types,
            v7.subscribable_events,
            v7.class_event_declarations
        ),
        (28 + 6, 26 + 6, 27 + 6)
    );
    assert_eq!((v7.enums, v7.structs), (22, 33 + 5));
}

#[test]
fn version_lists_agree_with_totals() {
    let m = model();
    assert_eq!(m.version_operations(KmdVersion::V6).len(), 130);
    assert_eq!(m.version_operations(KmdVersion::V7).len(), 122);
    assert_eq!(m.version_events(KmdVersion::V6).len(), 43);
    assert_eq!(m.version_events(KmdVersion::V7).len(), 33);
    assert_eq!(m.version_event_names(KmdVersion::V6).len(), 42);
    assert_eq!(m.version_event_names(KmdVersion::V7).len(), 32);
    let ops6 = m.version_operations(KmdVersion::V6);
    assert!(ops6.contains(&("MediaElement".into(), "setOutputBitrate".into())));
    assert!(!ops6.iter().any(|(_, op)| op == "dumpGstreamerDot"));
    let ops7 = m.version_operations(KmdVersion::V7);
    assert!(ops7.contains(&("MediaPipeline".into(), "dumpGstreamerDot".into())));
    assert!(ops7.contains(&("WebRtcEndpoint".into(), "getDtlsConnectionState".into())));
    assert!(!ops7.iter().any(|(_, op)| op == "getChilds"));
    let ev7 = m.version_events(KmdVersion::V7);
    assert!(ev7.contains(&("WebRtcEndpoint".into(), "DtlsConnectionStateChange".into())));
    assert!(!ev7.iter().any(|(_, e)| e == "OnIceCandidate"));
    for v in [KmdVersion::V6, KmdVersion::V7] {
        let c = m.version_creatable_classes(v);
        assert_eq!(c.len(), 21);
        assert!(c.iter().any(|x| x == "WebRtcEndpoint") && !c.iter().any(|x| x == "ServerManager"));
        // Every operation a generation declares is reachable in the merged model.
        for (class, op) in m.version_operations(v) {
            assert!(
                m.find_operation(&class, &op).is_some(),
                "{v:?} {class}.{op}"
            );
        }
        for (class, ev) in m.version_events(v) {
            assert!(m.event_supported(&class, &ev), "{v:?} {class}/{ev}");
        }
    }
}

#[test]
fn modules_as_server_info_lists_them() {
    let m = model();
    let names: Vec<_> = m
        .modules
        .iter()
        .map(|x| (x.name.as_str(), x.version.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("core", "6.18.1"),
            ("elements", "6.18.1"),
            ("filters", "6.18.1"),
            ("chroma", "7.3.1"),
            ("crowddetector", "7.3.1"),
            ("platedetector", "7.3.1"),
            ("pointerdetector", "7.3.1")
        ]
    );
    assert_eq!(m.modules[3].factories, ["ChromaFilter"]);
    assert_eq!(
        m.class("chroma.ChromaFilter").map(|c| c.qualified_name()),
        Some("chroma.ChromaFilter".to_string())
    );
    assert!(m.class("kurento.ChromaFilter").is_none());
    assert_eq!(
        m.qualified_hierarchy("PointerDetectorFilter"),
        [
            "kurento.Filter",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ]
    );
    assert_eq!(
        m.modules[0].factories,
        ["HubPort", "MediaPipeline", "PassThrough"]
    );
    assert_eq!(
        m.modules[1].factories,
        [
            "AlphaBlending",
            "Composite",
            "Dispatcher",
            "DispatcherOneToMany",
            "HttpPostEndpoint",
            "Mixer",
            "PlayerEndpoint",
            "RecorderEndpoint",
            "RtpEndpoint",
            "WebRtcEndpoint"
        ]
    );
    assert_eq!(
        m.modules[2].factories,
        [
            "FaceOverlayFilter",
            "GStreamerFilter",
            "ImageOverlayFilter",
            "ZBarFilter"
        ]
    );
    assert_eq!(
        m.class("WebRtcEndpoint").map(|c| c.module.as_str()),
        Some("elements")
    );
    assert_eq!(
        m.class("ZBarFilter").map(|c| c.module.as_str()),
        Some("filters")
    );
    assert_eq!(
        m.class("MediaPipeline").map(|c| c.module.as_str()),
        Some("core")
    );
}

#[test]
fn class_lookup_and_hierarchy() {
    let m = model();
    assert_eq!(
        m.class("kurento.WebRtcEndpoint").map(|c| c.name.as_str()),
        Some("WebRtcEndpoint")
    );
    assert!(m.class("WebRtcEndpoint").is_some());
    assert!(m.class("other.WebRtcEndpoint").is_none());
    assert!(m.class("").is_none());
    assert_eq!(
        m.qualified_hierarchy("WebRtcEndpoint"),
        [
            "kurento.BaseRtpEndpoint",
            "kurento.SdpEndpoint",
            "kurento.SessionEndpoint",
            "kurento.Endpoint",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ]
    );
    let names: Vec<_> = m
        .hierarchy("WebRtcEndpoint")
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names[0], "WebRtcEndpoint");
    assert_eq!(names.len(), 7);
    assert_eq!(
        m.qualified_hierarchy("ServerManager"),
        ["kurento.MediaObject"]
    );
    assert_eq!(
        m.qualified_hierarchy("kurento.MediaPipeline"),
        ["kurento.MediaObject"]
    );
    assert!(m.qualified_hierarchy("MediaObject").is_empty());
    assert!(m.hierarchy("Nope").is_empty());
    assert!(m.is_a("WebRtcEndpoint", "MediaElement"));
    assert!(m.is_a("WebRtcEndpoint", "kurento.WebRtcEndpoint"));
    assert!(m.is_a("HubPort", "MediaElement"));
    assert!(!m.is_a("Composite", "MediaElement"));
    assert!(m.is_a("Composite", "Hub"));
    assert!(!m.is_a("MediaPipeline", "MediaElement"));
    let creatable: Vec<_> = m
        .creatable_classes()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(creatable.len(), 21);
    assert!(!creatable.contains(&"ServerManager"));
    assert!(m.class("ServerManager").is_some_and(|c| c.is_abstract));
}

fn describe(op: Option<Operation<'_>>) -> Option<(&'static str, String, String)> {
    op.map(|op| match op {
        Operation::Method { class, method } => ("method", class.name.clone(), method.name.clone()),
        Operation::Get { class, property } => ("get", class.name.clone(), property.name.clone()),
        Operation::Set { class, property } => ("set", class.name.clone(), property.name.clone()),
    })
}

fn op(kind: &'static str, class: &str, name: &str) -> Option<(&'static str, String, String)> {
    Some((kind, class.to_string(), name.to_string()))
}

#[test]
fn operations_resolve_through_ancestors() {
    let m = model();
    let f = |c: &str, o: &str| describe(m.find_operation(c, o));
    assert_eq!(
        f("WebRtcEndpoint", "getName"),
        op("get", "MediaObject", "name")
    );
    assert_eq!(
        f("WebRtcEndpoint", "setName"),
        op("set", "MediaObject", "name")
    );
    assert_eq!(
        f("WebRtcEndpoint", "getICECandidatePairs"),
        op("get", "WebRtcEndpoint", "ICECandidatePairs")
    );
    assert_eq!(
        f("WebRtcEndpoint", "getIceConnectionState"),
        op("get", "WebRtcEndpoint", "IceConnectionState")
    );
    assert_eq!(
        f("WebRtcEndpoint", "getDtlsConnectionState"),
        op("get", "WebRtcEndpoint", "DtlsConnectionState")
    );
    assert_eq!(
        f("WebRtcEndpoint", "setMaxVideoRecvBandwidth"),
        op("set", "SdpEndpoint", "maxVideoRecvBandwidth")
    );
    assert_eq!(
        f("kurento.WebRtcEndpoint", "processOffer"),
        op("method", "SdpEndpoint", "processOffer")
    );
    assert_eq!(
        f("WebRtcEndpoint", "connect"),
        op("method", "MediaElement", "connect")
    );
    assert_eq!(
        f("Dispatcher", "connect"),
        op("method", "Dispatcher", "connect")
    );
    assert_eq!(
        f("WebRtcEndpoint", "dumpGstreamerDot"),
        op("method", "MediaElement", "dumpGstreamerDot")
    );
    assert_eq!(
        f("MediaPipeline", "dumpGstreamerDot"),
        op("method", "MediaPipeline", "dumpGstreamerDot")
    );
    assert_eq!(
        f("Composite", "dumpGstreamerDot"),
        op("method", "Hub", "dumpGstreamerDot")
    );
    assert_eq!(
        f("WebRtcEndpoint", "setOutputBitrate"),
        op("method", "MediaElement", "setOutputBitrate")
    );
    assert_eq!(
        f("WebRtcEndpoint", "getChilds"),
        op("get", "MediaObject", "childs")
    );
    assert_eq!(
        f("ServerManager", "getInfo"),
        op("get", "ServerManager", "info")
    );
    assert_eq!(f("WebRtcEndpoint", "frobnicate"), None);
    assert_eq!(f("WebRtcEndpoint", "getname"), None);
    assert_eq!(f("Nope", "getName"), None);
    // Read-only and final properties have no setter.
    assert_eq!(f("WebRtcEndpoint", "setChildren"), None);
    assert_eq!(f("WebRtcEndpoint", "setId"), None);
    assert_eq!(f("ServerManager", "setInfo"), None);
    assert_eq!(f("GStreamerFilter", "setCommand"), None);
    assert_eq!(f("WebRtcEndpoint", "setICECandidatePairs"), None);

    let process_offer = m.find_operation("WebRtcEndpoint", "processOffer");
    let p = process_offer.map(|o| o.params()).unwrap_or_default();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].name.as_str(), p[0].ty.as_str()), ("offer", "String"));
    assert_eq!(
        process_offer
            .and_then(|o| o.return_type().map(str::to_string))
            .as_deref(),
        Some("String")
    );
    let set = m
        .find_operation("WebRtcEndpoint", "setMaxVideoRecvBandwidth")
        .map(|o| o.params())
        .unwrap_or_default();
    assert_eq!(
        (set[0].name.as_str(), set[0].ty.as_str(), set[0].optional),
        ("maxVideoRecvBandwidth", "int", false)
    );
}

#[test]
fn merged_signatures_take_both_generations() {
    let m = model();
    let ctor = m
        .class("Composite")
        .and_then(|c| c.constructor.clone())
        .unwrap_or_default();
    let names: Vec<_> = ctor.iter().map(|p| (p.name.as_str(), p.optional)).collect();
    assert_eq!(
        names,
        [
            ("mediaPipeline", false),
            ("width", true),
            ("height", true),
            ("framerate", true)
        ]
    );
    assert_eq!(ctor[1].default, Some(serde_json::json!(800)));
    let rtp = m
        .class("RtpEndpoint")
        .and_then(|c| c.constructor.clone())
        .unwrap_or_default();
    assert_eq!(
        rtp.iter()
            .find(|p| p.name == "crypto")
            .and_then(|p| p.default.clone()),
        Some(serde_json::json!({}))
    );
    let rec = m
        .class("RecorderEndpoint")
        .and_then(|c| c.constructor.clone())
        .unwrap_or_default();
    assert_eq!(
        rec.iter()
            .find(|p| p.name == "mediaProfile")
            .and_then(|p| p.default.clone()),
        Some("WEBM".into())
    );
    match m.type_def("VideoCodec") {
        Some(kurento_protocol::model::TypeDef::Enum { values, .. }) => {
            for v in ["VP8", "H264", "RAW", "VP9", "AV1", "H265"] {
                assert!(values.iter().any(|x| x == v), "{v}");
            }
        }
        other => panic!("VideoCodec: {other:?}"),
    }
    assert!(m.type_def("DtlsConnection").is_some());
    assert!(m.type_def("kurento.IceCandidate").is_some());
    assert!(m.event_def("DtlsConnectionStateChange").is_some());
    assert!(m.event_def("OnIceCandidate").is_some());
}

#[test]
fn events_by_class() {
    let m = model();
    assert!(m.event_supported("WebRtcEndpoint", "IceCandidateFound"));
    assert!(m.event_supported("WebRtcEndpoint", "OnIceCandidate"));
    assert!(m.event_supported("WebRtcEndpoint", "DtlsConnectionStateChange"));
    assert!(m.event_supported("WebRtcEndpoint", "MediaStateChanged"));
    assert!(m.event_supported("WebRtcEndpoint", "MediaSessionStarted"));
    assert!(m.event_supported("WebRtcEndpoint", "Error"));
    assert!(m.event_supported("PassThrough", "ElementConnected"));
    assert!(m.event_supported("ServerManager", "ObjectCreated"));
    assert!(m.event_supported("kurento.ServerManager", "ObjectDestroyed"));
    assert!(m.event_supported("PlayerEndpoint", "EndOfStream"));
    assert!(!m.event_supported("RecorderEndpoint", "EndOfStream"));
    assert!(!m.event_supported("PassThrough", "IceCandidateFound"));
    assert!(!m.event_supported("WebRtcEndpoint", "icecandidatefound"));
    assert!(!m.event_supported("WebRtcEndpoint", "Media"));
    assert!(!m.event_supported("WebRtcEndpoint", "RaiseBase"));
    assert!(!m.event_supported("WebRtcEndpoint", "Nonsense"));
    assert!(!m.event_supported("Nope", "Error"));

    let fields: Vec<_> = m
        .event_fields("IceCandidateFound")
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "source",
            "timestamp",
            "timestampMillis",
            "tags",
            "type",
            "candidate"
        ]
    );
    let fields: Vec<_> = m
        .event_fields("Error")
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "source",
            "timestamp",
            "timestampMillis",
            "tags",
            "description",
            "errorCode",
            "type"
        ]
    );
    assert!(m.event_fields("Nonsense").is_empty());
}
