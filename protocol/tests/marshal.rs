//! Marshalling client JSON against kmd types.

use kurento_protocol::model::marshal::{
    complex, unmarshal_params, unmarshal_value, NoObjects, RefResolver,
};
use kurento_protocol::model::{model, ParamDef};
use kurento_protocol::{ErrorKind, RpcError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Objects by id, as a session would hold them.
struct Objects(HashMap<String, String>);

impl Objects {
    fn new(list: &[(&str, &str)]) -> Self {
        Objects(
            list.iter()
                .map(|(id, c)| (id.to_string(), c.to_string()))
                .collect(),
        )
    }
}

impl RefResolver for Objects {
    fn class_of(&self, id: &str) -> Option<String> {
        self.0.get(id).cloned()
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn method_params(class: &str, op: &str) -> Vec<ParamDef> {
    model()
        .find_operation(class, op)
        .map(|o| o.params())
        .unwrap_or_else(|| panic!("{class}.{op}"))
}

fn ctor_params(class: &str) -> Vec<ParamDef> {
    model()
        .class(class)
        .and_then(|c| c.constructor.clone())
        .unwrap_or_else(|| panic!("{class}"))
}

fn err(kind: ErrorKind, msg: &str) -> RpcError {
    RpcError::new(kind, msg)
}

#[test]
fn ice_candidate_with_and_without_discriminators() {
    let p = method_params("WebRtcEndpoint", "addIceCandidate");
    let expected = json!({"candidate": {"__module__":"kurento","__type__":"IceCandidate",
        "candidate":"candidate:1 1 udp 1 198.51.100.7 5000 typ host","sdpMid":"0","sdpMLineIndex":0}});
    let with = json!({"candidate": {"candidate":"candidate:1 1 udp 1 198.51.100.7 5000 typ host","sdpMid":"0",
        "sdpMLineIndex":0,"__module__":"kurento","__type__":"IceCandidate"}});
    let without = json!({"candidate": {"candidate":"candidate:1 1 udp 1 198.51.100.7 5000 typ host","sdpMid":"0",
        "sdpMLineIndex":0, "extra": true}});
    for given in [with, without] {
        let out = unmarshal_params(&p, Some(&obj(given)), &NoObjects).unwrap();
        assert_eq!(Value::Object(out), expected);
    }
    let missing_field = json!({"candidate": {"candidate":"c","sdpMid":"0"}});
    assert_eq!(
        unmarshal_params(&p, Some(&obj(missing_field)), &NoObjects),
        Err(err(
            ErrorKind::MarshallError,
            "'sdpMLineIndex' parameter is required"
        ))
    );
    let not_object = json!({"candidate": "candidate:1 1 udp"});
    assert_eq!(
        unmarshal_params(&p, Some(&obj(not_object)), &NoObjects)
            .unwrap_err()
            .kind,
        ErrorKind::MarshallError
    );
}

#[test]
fn unknown_or_foreign_type_discriminators() {
    let p = method_params("WebRtcEndpoint", "addIceCandidate");
    let unknown = json!({"candidate": {"candidate":"c","sdpMid":"0","sdpMLineIndex":0,"__module__":"kurento","__type__":"Bogus"}});
    assert_eq!(
        unmarshal_params(&p, Some(&obj(unknown)), &NoObjects)
            .unwrap_err()
            .kind,
        ErrorKind::UnexpectedError
    );
    let other_module = json!({"candidate": {"candidate":"c","sdpMid":"0","sdpMLineIndex":0,"__module__":"chroma","__type__":"IceCandidate"}});
    assert_eq!(
        unmarshal_params(&p, Some(&obj(other_module)), &NoObjects)
            .unwrap_err()
            .kind,
        ErrorKind::UnexpectedError
    );
    // Optional modules' structs under their own module, or another optional module's name.
    let p = method_params("PointerDetectorFilter", "addWindow");
    for module in ["pointerdetector", "chroma"] {
        let window = json!({"window": {"id":"w","height":10,"width":10,"upperRightX":0,"upperRightY":0,"__module__":module,"__type__":"PointerDetectorWindowMediaParam"}});
        assert!(
            unmarshal_params(&p, Some(&obj(window)), &NoObjects).is_ok(),
            "{module}"
        );
    }
    let window = json!({"window": {"id":"w","height":10,"width":10,"upperRightX":0,"upperRightY":0,"__module__":"kurento","__type__":"PointerDetectorWindowMediaParam"}});
    assert_eq!(
        unmarshal_params(&p, Some(&obj(window)), &NoObjects)
            .unwrap_err()
            .kind,
        ErrorKind::UnexpectedError
    );
    let p = method_params("WebRtcEndpoint", "addIceCandidate");
    // A known struct that is not the declared one.
    let unrelated = json!({"candidate": {"numerator":1,"denominator":2,"__module__":"kurento","__type__":"Fraction"}});
    assert_eq!(
        unmarshal_params(&p, Some(&obj(unrelated)), &NoObjects),
        Err(RpcError::marshall("candidate", "IceCandidate"))
    );
}

#[test]
fn subtypes_are_kept() {
    let v = json!({"__module__":"kurento","__type__":"ElementStats","id":"s1","type":"element","timestamp":1.5,
        "timestampMillis":1500,"inputAudioLatency":0.0,"inputVideoLatency":2,"inputLatency":[]});
    let out = unmarshal_value("Stats", "stats", &v, &NoObjects).unwrap();
    assert_eq!(out["__type__"], "ElementStats");
    assert_eq!(out["inputVideoLatency"], json!(2.0));
    assert_eq!(out["timestampMillis"], json!(1500));
    let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys[..4], ["__module__", "__type__", "id", "type"]);
}

#[test]
fn enums_are_exact() {
    let p = method_params("WebRtcEndpoint", "connect");
    let refs = Objects::new(&[("b", "PassThrough")]);
    let ok = unmarshal_params(
        &p,
        Some(&obj(json!({"sink":"b","mediaType":"VIDEO"}))),
        &refs,
    )
    .unwrap();
    assert_eq!(Value::Object(ok), json!({"sink":"b","mediaType":"VIDEO"}));
    for bad in [json!("video"), json!("VIDEOS"), json!(1), json!(["VIDEO"])] {
        assert_eq!(
            unmarshal_params(&p, Some(&obj(json!({"sink":"b","mediaType": bad}))), &refs),
            Err(RpcError::marshall("mediaType", "MediaType"))
        );
    }
    // 7.x additions to an enum are accepted.
    assert_eq!(
        unmarshal_value("VideoCodec", "codec", &json!("VP9"), &NoObjects),
        Ok(json!("VP9"))
    );
}

#[test]
fn missing_required_and_defaults() {
    let p = method_params("WebRtcEndpoint", "processOffer");
    assert_eq!(
        unmarshal_params(&p, None, &NoObjects),
        Err(err(
            ErrorKind::MarshallError,
            "'offer' parameter is required"
        ))
    );
    assert_eq!(
        unmarshal_params(&p, Some(&obj(json!({"offer": null}))), &NoObjects),
        Err(err(
            ErrorKind::MarshallError,
            "'offer' parameter is required"
        ))
    );
    assert_eq!(
        unmarshal_params(&p, Some(&obj(json!({"offer": 5}))), &NoObjects),
        Err(err(
            ErrorKind::MarshallError,
            "'offer' parameter should be a string"
        ))
    );

    let flowing = method_params("WebRtcEndpoint", "isMediaFlowingIn");
    let out = unmarshal_params(
        &flowing,
        Some(&obj(json!({"mediaType":"AUDIO","other":1}))),
        &NoObjects,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"mediaType":"AUDIO","sinkMediaDescription":"default"})
    );

    let ctor = ctor_params("WebRtcEndpoint");
    let refs = Objects::new(&[("p", "MediaPipeline")]);
    let out = unmarshal_params(
        &ctor,
        Some(&obj(json!({"mediaPipeline":"p","useDataChannels":true}))),
        &refs,
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"mediaPipeline":"p","recvonly":false,"sendonly":false,"useDataChannels":true,
            "certificateKeyType":"RSA","qosDscp":"NO_VALUE"})
    );

    // A struct default gets its discriminators.
    let rtp = ctor_params("RtpEndpoint");
    let out = unmarshal_params(&rtp, Some(&obj(json!({"mediaPipeline":"p"}))), &refs).unwrap();
    assert_eq!(
        out["crypto"],
        json!({"__module__":"kurento","__type__":"SDES"})
    );

    // Composite's 7.x constructor params are optional with defaults.
    let comp = ctor_params("Composite");
    let out = unmarshal_params(&comp, Some(&obj(json!({"mediaPipeline":"p"}))), &refs).unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"mediaPipeline":"p","width":800,"height":600,"framerate":15})
    );

    // getUsedCpu's interval is "required" with a default in 6.18: the default applies.
    let cpu = method_params("ServerManager", "getUsedCpu");
    assert_eq!(
        Value::Object(unmarshal_params(&cpu, None, &NoObjects).unwrap()),
        json!({"interval":1000})
    );
}

#[test]
fn offer_options_fields_are_optional() {
    let p = method_params("WebRtcEndpoint", "generateOffer");
    assert_eq!(unmarshal_params(&p, None, &NoObjects).unwrap(), Map::new());
    let out = unmarshal_params(&p, Some(&obj(json!({"options":{}}))), &NoObjects).unwrap();
    // Both fields default to true in the kmd.
    assert_eq!(
        out["options"],
        json!({"__module__":"kurento","__type__":"OfferOptions","offerToReceiveAudio":true,"offerToReceiveVideo":true})
    );
    let out = unmarshal_params(
        &p,
        Some(&obj(json!({"options":{"offerToReceiveVideo":false}}))),
        &NoObjects,
    )
    .unwrap();
    assert_eq!(
        out["options"],
        json!({"__module__":"kurento","__type__":"OfferOptions","offerToReceiveAudio":true,"offerToReceiveVideo":false})
    );
    assert_eq!(
        unmarshal_params(
            &p,
            Some(&obj(json!({"options":{"offerToReceiveAudio":"yes"}}))),
            &NoObjects
        ),
        Err(RpcError::marshall("offerToReceiveAudio", "boolean"))
    );
}

#[test]
fn primitives_are_lenient_like_jsoncpp() {
    let n = &NoObjects;
    assert_eq!(unmarshal_value("int", "x", &json!(3), n), Ok(json!(3)));
    assert_eq!(unmarshal_value("int", "x", &json!(3.0), n), Ok(json!(3)));
    assert_eq!(unmarshal_value("int", "x", &json!(-1), n), Ok(json!(-1)));
    assert_eq!(unmarshal_value("int", "x", &json!(true), n), Ok(json!(1)));
    assert_eq!(unmarshal_value("int", "x", &json!(false), n), Ok(json!(0)));
    assert_eq!(
        unmarshal_value("int", "x", &json!(3.5), n),
        Err(RpcError::marshall("x", "integer"))
    );
    assert_eq!(
        unmarshal_value("int", "x", &json!("3"), n),
        Err(RpcError::marshall("x", "integer"))
    );
    assert_eq!(
        unmarshal_value("int", "x", &json!(3_000_000_000i64), n),
        Err(RpcError::marshall("x", "integer"))
    );
    assert_eq!(
        unmarshal_value("int64", "x", &json!(3_000_000_000i64), n),
        Ok(json!(3_000_000_000i64))
    );
    assert_eq!(
        unmarshal_value("int64", "x", &json!(1e300), n),
        Err(RpcError::marshall("x", "integer"))
    );
    assert_eq!(unmarshal_value("float", "x", &json!(2), n), Ok(json!(2.0)));
    assert_eq!(
        unmarshal_value("double", "x", &json!(0.25), n),
        Ok(json!(0.25))
    );
    assert_eq!(
        unmarshal_value("float", "x", &json!("0.5"), n),
        Err(RpcError::marshall("x", "number"))
    );
    assert_eq!(
        unmarshal_value("boolean", "x", &json!(true), n),
        Ok(json!(true))
    );
    assert_eq!(
        unmarshal_value("boolean", "x", &json!(0), n),
        Ok(json!(false))
    );
    assert_eq!(
        unmarshal_value("boolean", "x", &json!(1), n),
        Ok(json!(true))
    );
    assert_eq!(
        unmarshal_value("boolean", "x", &json!(2), n),
        Err(RpcError::marshall("x", "boolean"))
    );
    assert_eq!(
        unmarshal_value("boolean", "x", &json!("true"), n),
        Err(RpcError::marshall("x", "boolean"))
    );
    assert_eq!(
        unmarshal_value("String", "x", &json!("s"), n),
        Ok(json!("s"))
    );
    assert_eq!(
        unmarshal_value("String", "x", &json!(1), n),
        Err(RpcError::marshall("x", "string"))
    );

    let setter = method_params("WebRtcEndpoint", "setMaxVideoRecvBandwidth");
    let out = unmarshal_params(
        &setter,
        Some(&obj(json!({"maxVideoRecvBandwidth": 500.0}))),
        n,
    )
    .unwrap();
    assert_eq!(Value::Object(out), json!({"maxVideoRecvBandwidth": 500}));
    assert_eq!(
        unmarshal_params(
            &setter,
            Some(&obj(json!({"maxVideoRecvBandwidth": "fast"}))),
            n
        ),
        Err(RpcError::marshall("maxVideoRecvBandwidth", "integer"))
    );
}

#[test]
fn lists_and_maps() {
    let n = &NoObjects;
    assert_eq!(
        unmarshal_value("String[]", "l", &json!(["a", "b"]), n),
        Ok(json!(["a", "b"]))
    );
    assert_eq!(
        unmarshal_value("String[]", "l", &json!([]), n),
        Ok(json!([]))
    );
    assert_eq!(
        unmarshal_value("String[]", "l", &json!("a"), n),
        Err(RpcError::marshall("l", "String[]"))
    );
    assert_eq!(
        unmarshal_value("String[]", "l", &json!(["a", 1]), n),
        Err(RpcError::marshall("l", "string"))
    );
    assert_eq!(
        unmarshal_value("int[]", "l", &json!([1, 2.0, true]), n),
        Ok(json!([1, 2, 1]))
    );
    assert_eq!(
        unmarshal_value("String<>", "m", &json!({"k":"v"}), n),
        Ok(json!({"k":"v"}))
    );
    assert_eq!(
        unmarshal_value("String<>", "m", &json!(["v"]), n),
        Err(RpcError::marshall("m", "String<>"))
    );
    let tags = unmarshal_value("Tag[]", "tags", &json!([{"key":"a","value":"b"}]), n).unwrap();
    assert_eq!(
        tags,
        json!([{"__module__":"kurento","__type__":"Tag","key":"a","value":"b"}])
    );
    let codec = unmarshal_value(
        "CodecConfiguration",
        "c",
        &json!({"name":"VP8","properties":{"a":"1"}}),
        n,
    )
    .unwrap();
    assert_eq!(codec["properties"], json!({"a":"1"}));
}

#[test]
fn remote_references() {
    let refs = Objects::new(&[
        ("pipe", "MediaPipeline"),
        ("web", "WebRtcEndpoint"),
        ("port", "HubPort"),
        ("hub", "Composite"),
    ]);
    let connect = method_params("WebRtcEndpoint", "connect");
    assert_eq!(
        unmarshal_params(&connect, Some(&obj(json!({"sink":"web"}))), &refs).map(Value::Object),
        Ok(json!({"sink":"web"}))
    );
    assert_eq!(
        unmarshal_params(&connect, Some(&obj(json!({"sink":"port"}))), &refs).map(|m| m.len()),
        Ok(1)
    );
    assert_eq!(
        unmarshal_params(&connect, Some(&obj(json!({"sink":"ghost"}))), &refs),
        Err(RpcError::object_not_found("ghost"))
    );
    assert_eq!(
        unmarshal_params(&connect, Some(&obj(json!({"sink":"pipe"}))), &refs),
        Err(RpcError::marshall("sink", "MediaElement"))
    );
    assert_eq!(
        unmarshal_params(&connect, Some(&obj(json!({"sink":{"id":"web"}}))), &refs),
        Err(RpcError::marshall("sink", "MediaElement"))
    );
    let hub_port = ctor_params("HubPort");
    assert_eq!(
        unmarshal_params(&hub_port, Some(&obj(json!({"hub":"hub"}))), &refs).map(|m| m.len()),
        Ok(1)
    );
    assert_eq!(
        unmarshal_params(&hub_port, Some(&obj(json!({"hub":"web"}))), &refs),
        Err(RpcError::marshall("hub", "Hub"))
    );
    let set_master = method_params("AlphaBlending", "setMaster");
    assert_eq!(
        unmarshal_params(
            &set_master,
            Some(&obj(json!({"source":"web","zOrder":1}))),
            &refs
        ),
        Err(RpcError::marshall("source", "HubPort"))
    );
    assert_eq!(
        unmarshal_value("MediaObject[]", "l", &json!(["pipe", "web"]), &refs),
        Ok(json!(["pipe", "web"]))
    );
}

#[test]
fn complex_adds_discriminators() {
    let mut fields = Map::new();
    fields.insert("key".into(), json!("k"));
    fields.insert("__type__".into(), json!("Wrong"));
    fields.insert("value".into(), json!("v"));
    let v = complex("Tag", fields);
    assert_eq!(
        v,
        json!({"__module__":"kurento","__type__":"Tag","key":"k","value":"v"})
    );
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["__module__", "__type__", "key", "value"]);
    assert_eq!(
        complex("kurento.ServerInfo", Map::new()),
        json!({"__module__":"kurento","__type__":"ServerInfo"})
    );
}

/// Every declared param and type fed with odd values: errors are fine, panics are not, and every
/// error is a Kurento marshalling error or a missing object.
#[test]
fn arbitrary_json_never_panics() {
    let m = model();
    let odd = [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e308),
        json!(-0.0),
        json!(""),
        json!("VIDEO"),
        json!("web"),
        json!([]),
        json!([null, 1, "x", {}]),
        json!({}),
        json!({"__type__": null, "__module__": 5}),
        json!({"__type__": 7}),
        json!({"__type__": "Stats", "__module__": "kurento", "id": []}),
        json!({"__type__": "RTCInboundRTPStreamStats"}),
        json!({"a": {"b": [1, {"c": null}]}}),
    ];
    let refs = Objects::new(&[("web", "WebRtcEndpoint")]);
    let mut all_params: Vec<Vec<ParamDef>> = Vec::new();
    for c in &m.classes {
        all_params.extend(c.constructor.clone());
        all_params.extend(c.methods.iter().map(|x| x.params.clone()));
        for p in &c.properties {
            all_params.push(vec![ParamDef {
                name: p.name.clone(),
                ty: p.ty.clone(),
                optional: false,
                default: None,
            }]);
        }
    }
    let mut types: Vec<String> = m.types.iter().map(|t| t.name().to_string()).collect();
    types.extend(m.classes.iter().map(|c| c.name.clone()));
    types.extend(
        [
            "String", "int", "int64", "float", "double", "boolean", "Nope", "", "[]", "<>",
        ]
        .map(String::from),
    );
    let allowed = [
        ErrorKind::MarshallError,
        ErrorKind::UnexpectedError,
        ErrorKind::MediaObjectNotFound,
    ];
    let mut checked = 0;
    for v in &odd {
        for params in &all_params {
            let mut given = Map::new();
            for p in params {
                given.insert(p.name.clone(), v.clone());
            }
            if let Err(e) = unmarshal_params(params, Some(&given), &refs) {
                assert!(allowed.contains(&e.kind), "{e:?}");
            }
            if let Value::Object(o) = v {
                let _ = unmarshal_params(params, Some(o), &refs);
            }
            checked += 1;
        }
        for t in &types {
            for ty in [t.clone(), format!("{t}[]"), format!("{t}<>")] {
                if let Err(e) = unmarshal_value(&ty, "x", v, &refs) {
                    assert!(allowed.contains(&e.kind), "{ty} {v}: {e:?}");
                }
                let _ = unmarshal_value(&ty, "x", &json!([v.clone()]), &refs);
                let _ = unmarshal_value(&ty, "x", &json!({"k": v.clone()}), &refs);
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
}
