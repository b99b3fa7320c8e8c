//! The JSON-RPC server end to end over real WebSockets on 127.0.0.1: raw frames in, exact
//! replies out (mini-redis style). Media-free: WebRTC is covered by the adapter's tests and the
//! browser tests in compat-tests/.

use futures_util::{SinkExt, StreamExt};
use kurento_media_server::server::{start, RunningServer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn server_with(gc: Duration) -> RunningServer {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.gc_period = gc;
    o.limits.max_request_bytes = 64 * 1024;
    start(o).await.unwrap()
}

async fn server() -> RunningServer {
    server_with(Duration::from_secs(240)).await
}

/// A server whose endpoints gather on loopback only (for tests that create media elements).
async fn media_server() -> RunningServer {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.webrtc.network_interfaces = Some(vec!["lo".into()]);
    start(o).await.unwrap()
}

async fn ws(addr: SocketAddr) -> Ws {
    connect_async(format!("ws://{addr}/kurento"))
        .await
        .unwrap()
        .0
}

struct Client {
    ws: Ws,
    next: u64,
    events: Vec<Value>,
}

impl Client {
    async fn new(addr: SocketAddr) -> Self {
        Client {
            ws: ws(addr).await,
            next: 0,
            events: Vec::new(),
        }
    }

    async fn send_text(&mut self, t: &str) {
        self.ws.send(Message::text(t.to_string())).await.unwrap();
    }

    /// Next non-event message (events are stashed).
    async fn recv(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("reply timeout");
            let m = m.unwrap().unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v.get("method") == Some(&json!("onEvent")) {
                    self.events.push(v);
                } else {
                    return v;
                }
            }
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let mut req = json!({"jsonrpc":"2.0","method":method,"id":id});
        if !params.is_null() {
            req["params"] = params;
        }
        self.send_text(&req.to_string()).await;
        let r = self.recv().await;
        assert_eq!(r["id"], json!(id), "{r}");
        r
    }

    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params).await;
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    async fn err(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params).await;
        assert!(r.get("error").is_some(), "{method} should fail: {r}");
        r["error"].clone()
    }

    async fn wait_event(&mut self, ty: &str) -> Value {
        for _ in 0..50 {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["params"]["value"]["type"] == ty)
            {
                return self.events.remove(i);
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), async {
                if let Some(Ok(Message::Text(t))) = self.ws.next().await {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    self.events.push(v);
                }
            })
            .await;
        }
        panic!("no {ty} event; have {:?}", self.events);
    }
}

#[tokio::test]
async fn kurento_client_startup_sequence() {
    let s = server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let pong = c.ok("ping", json!({"interval": 5000})).await;
    assert_eq!(pong, json!({"value": "pong"}));
    let d = c
        .ok("describe", json!({"object": "manager_ServerManager"}))
        .await;
    assert_eq!(d["type"], "ServerManager");
    assert_eq!(d["qualifiedType"], "kurento.ServerManager");
    assert_eq!(d["hierarchy"], json!(["kurento.MediaObject"]));
    let sid = d["sessionId"].as_str().unwrap().to_string();
    assert_eq!(sid.len(), 36);
    let info = c
        .ok(
            "invoke",
            json!({"object":"manager_ServerManager","operation":"getInfo","sessionId":sid}),
        )
        .await;
    let names: Vec<&str> = info["value"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for m in ["core", "elements", "filters"] {
        assert!(names.contains(&m), "{names:?}");
    }
    assert_eq!(info["value"]["__type__"], "ServerInfo");
    assert_eq!(info["value"]["type"], "KMS");
    // A ping on a bound connection now carries the session.
    let pong = c.ok("ping", Value::Null).await;
    assert_eq!(pong, json!({"sessionId": sid, "value": "pong"}));
}

#[tokio::test]
async fn pipeline_elements_graph_and_events() {
    let s = server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let p = c
        .ok("create", json!({"type":"MediaPipeline","properties":{}}))
        .await;
    let sid = p["sessionId"].as_str().unwrap().to_string();
    let pipe = p["value"].as_str().unwrap().to_string();
    assert!(pipe.ends_with("_kurento.MediaPipeline"));
    let a = c.ok("create", json!({"type":"kurento.PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid})).await;
    let a = a["value"].as_str().unwrap().to_string();
    assert!(
        a.starts_with(&format!("{pipe}/")) && a.ends_with("_kurento.PassThrough"),
        "{a}"
    );
    let b = c.ok("create", json!({"type":"PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid})).await;
    let b = b["value"].as_str().unwrap().to_string();
    let sub1 = c
        .ok(
            "subscribe",
            json!({"object":a,"type":"ElementConnected","sessionId":sid}),
        )
        .await;
    let _sub2 = c
        .ok(
            "subscribe",
            json!({"object":a,"type":"ElementConnected","sessionId":sid}),
        )
        .await;
    c.ok("invoke", json!({"object":a,"operation":"connect","operationParams":{"sink":b,"mediaType":"VIDEO"},"sessionId":sid})).await;
    let ev = c.wait_event("ElementConnected").await;
    let data = &ev["params"]["value"]["data"];
    assert_eq!(ev["params"]["value"]["object"], json!(a));
    assert_eq!(data["sink"], json!(b));
    assert_eq!(data["mediaType"], "VIDEO");
    assert_eq!(data["type"], "ElementConnected");
    assert!(data["timestampMillis"].is_string());
    // Two subscriptions, one delivery.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = c.ok("ping", Value::Null).await;
    assert!(
        c.events
            .iter()
            .all(|e| e["params"]["value"]["type"] != "ElementConnected"),
        "delivered twice"
    );
    let conns = c
        .ok(
            "invoke",
            json!({"object":b,"operation":"getSourceConnections","sessionId":sid}),
        )
        .await;
    assert_eq!(conns["value"][0]["source"], json!(a));
    assert_eq!(conns["value"][0]["type"], "VIDEO");
    let children = c
        .ok(
            "invoke",
            json!({"object":pipe,"operation":"getChildren","sessionId":sid}),
        )
        .await;
    assert_eq!(children["value"], json!([a, b]));
    let mp = c
        .ok(
            "invoke",
            json!({"object":a,"operation":"getMediaPipeline","sessionId":sid}),
        )
        .await;
    assert_eq!(mp["value"], json!(pipe));
    let name = c
        .ok(
            "invoke",
            json!({"object":a,"operation":"getName","sessionId":sid}),
        )
        .await;
    assert_eq!(name["value"], json!(a));
    c.ok("invoke", json!({"object":a,"operation":"setName","operationParams":{"name":"alice"},"sessionId":sid})).await;
    let name = c
        .ok(
            "invoke",
            json!({"object":a,"operation":"getName","sessionId":sid}),
        )
        .await;
    assert_eq!(name["value"], "alice");
    let dot = c
        .ok(
            "invoke",
            json!({"object":pipe,"operation":"getGstreamerDot","sessionId":sid}),
        )
        .await;
    assert!(dot["value"].as_str().unwrap().starts_with("digraph"));
    c.ok(
        "unsubscribe",
        json!({"object":a,"subscription":sub1["value"],"sessionId":sid}),
    )
    .await;
    let r = c
        .ok("release", json!({"object":pipe,"sessionId":sid}))
        .await;
    assert_eq!(r, json!({"sessionId": sid}));
    let e = c
        .err(
            "invoke",
            json!({"object":a,"operation":"getName","sessionId":sid}),
        )
        .await;
    assert_eq!(e["code"], 40101);
    // Releasing again is not an error.
    c.ok("release", json!({"object":pipe,"sessionId":sid}))
        .await;
}

#[tokio::test]
async fn errors_are_kms_errors() {
    let s = server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let p = c.ok("create", json!({"type":"MediaPipeline"})).await;
    let pipe = p["value"].clone();
    let cases = [
        ("create", json!({"type":"Nope"}), 40108),
        ("create", json!({"type":"ServerManager"}), 40108),
        ("create", json!({"type":"MediaElement"}), 40108),
        (
            "create",
            json!({"type":"PlayerEndpoint","constructorParams":{"mediaPipeline":pipe}}),
            40001,
        ),
        (
            "create",
            json!({"type":"PassThrough","constructorParams":{"mediaPipeline":"missing"}}),
            40101,
        ),
        ("create", json!({}), -32000),
        ("create", json!({"type": 5}), -32000),
        ("invoke", json!({"object":pipe,"operation":"fly"}), 40008),
        (
            "invoke",
            json!({"object":"nope","operation":"getName"}),
            40101,
        ),
        (
            "invoke",
            json!({"object":"newref:0","operation":"getName"}),
            40109,
        ),
        (
            "invoke",
            json!({"object":pipe,"operation":"setLatencyStats","operationParams":{"latencyStats":"yes"}}),
            40001,
        ),
        (
            "invoke",
            json!({"object":pipe,"operation":"getChildren","operationParams":5}),
            -32000,
        ),
        (
            "invoke",
            json!({"object":pipe,"operation":"getTag","operationParams":{"key":"k"}}),
            40110,
        ),
        (
            "subscribe",
            json!({"object":pipe,"type":"IceCandidateFound"}),
            40106,
        ),
        ("subscribe", json!({"object":pipe}), -32000),
        (
            "connect",
            json!({"sessionId":"00000000-0000-4000-8000-000000000000"}),
            40007,
        ),
        (
            "keepAlive",
            json!({"sessionId":"00000000-0000-4000-8000-000000000000"}),
            40007,
        ),
        ("describe", json!({"object":"nope"}), 40101),
        ("fly", json!({}), -32601),
    ];
    for (m, p, code) in cases {
        let e = c.err(m, p.clone()).await;
        assert_eq!(e["code"], code, "{m} {p}: {e}");
    }
    let e = c.err("release", Value::Null).await;
    assert_eq!(
        e,
        json!({"code":-32602,"message":"'params' is required","data":{"type":"INVALID_PARAMS"}})
    );
    let e = c
        .err(
            "invoke",
            json!({"object":pipe,"operation":"fly","operationParams":{"a":1,"b":2}}),
        )
        .await;
    assert_eq!(e["message"], "Method 'fly' with 2 parameters not found");
    assert_eq!(e["data"]["type"], "MALFORMED_TRANSACTION");
}

#[tokio::test]
async fn malformed_input_hurts_nobody_else() {
    let s = server().await;
    let addr = s.ws_addr.unwrap();
    let mut other = Client::new(addr).await;
    let p = other.ok("create", json!({"type":"MediaPipeline"})).await;
    let mut c = Client::new(addr).await;
    for bad in [
        "{",
        "[]",
        "[1,2]",
        "42",
        "null",
        "\"x\"",
        r#"{"jsonrpc":"1.0","method":"ping","id":1}"#,
        r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":["ping"],"id":2}"#,
        "\u{0}\u{1}",
        r#"{"jsonrpc":"2.0","method":"invoke","params":{"object":{"x":[]}},"id":3}"#,
    ] {
        c.send_text(bad).await;
        let r = c.recv().await;
        assert!(r["error"]["code"].as_i64().unwrap() < 0, "{bad}: {r}");
    }
    c.send_text(r#"{not json"#).await;
    assert_eq!(
        c.recv().await,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error.","data":{"type":"PARSE_ERROR"}}})
    );
    c.ws.send(Message::binary(vec![0xffu8, 0xfe, 3]))
        .await
        .unwrap();
    assert_eq!(c.recv().await["error"]["code"], -32700);
    // kurento-client sends its JSON in binary frames.
    c.ws.send(Message::binary(
        br#"{"jsonrpc":"2.0","method":"ping","id":"b"}"#.to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(c.recv().await["result"]["value"], "pong");
    let huge = format!(
        r#"{{"jsonrpc":"2.0","method":"ping","id":9,"params":{{"x":"{}"}}}}"#,
        "a".repeat(100_000)
    );
    c.send_text(&huge).await;
    assert_eq!(c.recv().await["error"]["code"], -32600);
    // Still alive, and the other session is untouched and got nothing stray.
    assert_eq!(c.ok("ping", Value::Null).await["value"], "pong");
    let pipes = other.ok("invoke", json!({"object":"manager_ServerManager","operation":"getPipelines","sessionId":p["sessionId"]})).await;
    assert_eq!(pipes["value"], json!([p["value"]]));
    assert!(other.events.is_empty());
}

#[tokio::test]
async fn transaction_with_newref() {
    let s = server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let sid = c.ok("connect", Value::Null).await["sessionId"].clone();
    let r = c.ok("transaction", json!({"object": "x", "sessionId": sid, "operations": [
        {"jsonrpc":"2.0","id":0,"method":"create","params":{"type":"MediaPipeline","properties":{}}},
        {"jsonrpc":"2.0","id":1,"method":"create","params":{"type":"PassThrough","constructorParams":{"mediaPipeline":"newref:0"},"properties":{}}},
        {"jsonrpc":"2.0","id":2,"method":"invoke","params":{"object":"newref:1","operation":"getParent"}},
        {"jsonrpc":"2.0","id":3,"method":"invoke","params":{"object":"newref:1","operation":"fly"}},
        {"jsonrpc":"2.0","id":4,"method":"invoke","params":{"object":"newref:1","operation":"getName"}}
    ]})).await;
    let v = r["value"].as_array().unwrap();
    assert_eq!(v.len(), 4, "stops at the first failure: {r}");
    let pipe = &v[0]["result"]["value"];
    assert_eq!(v[1]["id"], 1);
    assert_eq!(v[2]["result"]["value"], *pipe);
    assert_eq!(v[3]["error"]["code"], 40008);
    let e = c
        .err(
            "transaction",
            json!({"sessionId": sid, "operations": [{"jsonrpc":"2.0","id":5,"method":"ping"}]}),
        )
        .await;
    assert_eq!(e["code"], 40008);
    assert_eq!(e["message"], "Id of request '0' should be '0'");
}

#[tokio::test]
async fn reconnect_resumes_session_and_events_follow_the_socket() {
    let s = server().await;
    let addr = s.ws_addr.unwrap();
    let mut c = Client::new(addr).await;
    let p = c.ok("create", json!({"type":"MediaPipeline"})).await;
    let sid = p["sessionId"].clone();
    let pipe = p["value"].clone();
    let a = c.ok("create", json!({"type":"PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid})).await["value"].clone();
    let b = c.ok("create", json!({"type":"PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid})).await["value"].clone();
    c.ok(
        "subscribe",
        json!({"object":a,"type":"ElementConnected","sessionId":sid}),
    )
    .await;
    drop(c);
    let mut c2 = Client::new(addr).await;
    let r = c2.ok("connect", json!({"sessionId": sid})).await;
    assert_eq!(r["sessionId"], sid);
    assert_eq!(r["serverId"], json!(s.dispatcher.server_id()));
    c2.ok(
        "invoke",
        json!({"object":a,"operation":"connect","operationParams":{"sink":b},"sessionId":sid}),
    )
    .await;
    let ev = c2.wait_event("ElementConnected").await;
    assert_eq!(ev["params"]["value"]["data"]["sink"], b);
}

#[tokio::test]
async fn abandoned_sessions_are_collected() {
    let s = server_with(Duration::from_millis(200)).await;
    let addr = s.ws_addr.unwrap();
    let mut c = Client::new(addr).await;
    let p = c.ok("create", json!({"type":"MediaPipeline"})).await;
    let sid = p["sessionId"].clone();
    drop(c);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut c2 = Client::new(addr).await;
    let e = c2.err("connect", json!({"sessionId": sid})).await;
    assert_eq!(e["code"], 40007);
    assert!(s.dispatcher.lock().registry.pipelines().is_empty());
}

#[tokio::test]
async fn health_check_and_path() {
    let s = server().await;
    let addr = s.ws_addr.unwrap();
    let mut t = TcpStream::connect(addr).await.unwrap();
    t.write_all(b"GET /kurento HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nOrigin: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 256];
    let n = t.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 500"));
    let (mut w, _) = connect_async(format!("ws://{addr}/wrong")).await.unwrap();
    match w.next().await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 1002);
            assert_eq!(f.reason.as_str(), "Invalid path");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    let (mut w, _) = connect_async(format!("ws://{addr}/kurento?access_token=abc"))
        .await
        .unwrap();
    w.send(Message::text(r#"{"jsonrpc":"2.0","method":"ping","id":0}"#))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = w.next().await else {
        panic!()
    };
    assert_eq!(
        t.as_str(),
        r#"{"jsonrpc":"2.0","id":0,"result":{"value":"pong"}}"#
    );
}

#[tokio::test]
async fn duplicate_request_id_returns_cached_reply() {
    let s = server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let sid = c.ok("connect", Value::Null).await["sessionId"].clone();
    let req = json!({"jsonrpc":"2.0","method":"create","params":{"type":"MediaPipeline","sessionId":sid},"id":77}).to_string();
    c.send_text(&req).await;
    let r1 = c.recv().await;
    c.send_text(&req).await;
    let r2 = c.recv().await;
    assert_eq!(r1, r2);
    assert_eq!(s.dispatcher.lock().registry.pipelines().len(), 1);
}

#[tokio::test]
async fn plain_rtp_avp_offer_gets_the_kms_answer_every_line_rejected() {
    let s = media_server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let p = c.ok("create", json!({"type":"MediaPipeline"})).await;
    let sid = p["sessionId"].clone();
    let ep = c
        .ok("create", json!({"type":"WebRtcEndpoint","constructorParams":{"mediaPipeline":p["value"]},"sessionId":sid}))
        .await["value"]
        .clone();
    let e = c
        .err("invoke", json!({"object":ep,"operation":"processOffer","operationParams":{"offer":"garbage"},"sessionId":sid}))
        .await;
    assert!(e["code"].as_i64().unwrap() >= 40200, "{e}");
    let e = c
        .err(
            "invoke",
            json!({"object":ep,"operation":"getLocalSessionDescriptor","sessionId":sid}),
        )
        .await;
    assert_eq!(e["data"]["type"], "SDP_END_POINT_NO_LOCAL_SDP_ERROR", "{e}");
    // A SIP-style offer: KMS has no WebRtcEndpoint handler for RTP/AVP and answers each m-line
    // with its reject handler (port 0, the offer's protocol and formats, a=inactive) instead of
    // failing (kms-core kmssdpagent.c create_media_answer).
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 5004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 5006 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
    let answer = c
        .ok("invoke", json!({"object":ep,"operation":"processOffer","operationParams":{"offer":offer},"sessionId":sid}))
        .await["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mlines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        mlines,
        ["m=audio 0 RTP/AVP 0", "m=video 0 RTP/AVP 96"],
        "{answer}"
    );
    assert_eq!(answer.matches("a=inactive").count(), 2, "{answer}");
    assert!(answer.contains("s=Kurento Media Server\r\n"), "{answer}");
    assert!(!answer.contains("a=ice-ufrag"), "{answer}");
    assert!(!answer.contains("a=fingerprint"), "{answer}");
    let local = c
        .ok(
            "invoke",
            json!({"object":ep,"operation":"getLocalSessionDescriptor","sessionId":sid}),
        )
        .await;
    assert_eq!(local["value"].as_str(), Some(answer.as_str()));
    // The endpoint still works afterwards.
    let st = c
        .ok(
            "invoke",
            json!({"object":ep,"operation":"getStats","sessionId":sid}),
        )
        .await;
    assert!(st["value"].is_object());
}

#[tokio::test]
async fn limits_answer_not_enough_resources_and_hurt_nothing_else() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.limits.max_sessions = 2;
    o.limits.max_pipelines = 2;
    o.limits.max_elements_per_pipeline = 2;
    o.limits.max_objects_per_session = 4;
    let s = start(o).await.unwrap();
    let addr = s.ws_addr.unwrap();
    let mut a = Client::new(addr).await;
    let p = a.ok("create", json!({"type":"MediaPipeline"})).await;
    let sid = p["sessionId"].clone();
    let pipe = p["value"].clone();
    for _ in 0..2 {
        a.ok("create", json!({"type":"PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid})).await;
    }
    let e = a.err("create", json!({"type":"PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid})).await;
    assert_eq!(e["code"], 40009);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("maxElementsPerPipeline"),
        "{e}"
    );
    a.ok("create", json!({"type":"MediaPipeline","sessionId":sid}))
        .await;
    let e = a
        .err("create", json!({"type":"MediaPipeline","sessionId":sid}))
        .await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("maxObjectsPerSession")
            || e["message"].as_str().unwrap().contains("maxPipelines"),
        "{e}"
    );
    // A second session is allowed, a third is not.
    let mut b = Client::new(addr).await;
    b.ok("connect", Value::Null).await;
    let mut c = Client::new(addr).await;
    let e = c.err("connect", Value::Null).await;
    assert!(
        e["message"].as_str().unwrap().contains("maxSessions"),
        "{e}"
    );
    // Nothing else was hurt: the first session still works.
    let name = a
        .ok(
            "invoke",
            json!({"object":pipe,"operation":"getName","sessionId":sid}),
        )
        .await;
    assert_eq!(name["value"], pipe);
}

#[tokio::test]
async fn access_token_when_configured() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.access_token = Some("t0ken".into());
    let s = start(o).await.unwrap();
    let addr = s.ws_addr.unwrap();
    for url in [
        format!("ws://{addr}/kurento"),
        format!("ws://{addr}/kurento?access_token=wrong"),
    ] {
        let (mut w, _) = connect_async(url).await.unwrap();
        match w.next().await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1008),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    let (mut w, _) = connect_async(format!("ws://{addr}/kurento?access_token=t0ken"))
        .await
        .unwrap();
    w.send(Message::text(r#"{"jsonrpc":"2.0","method":"ping","id":0}"#))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = w.next().await else {
        panic!()
    };
    assert!(t.as_str().contains("pong"));
}

#[tokio::test]
async fn allowed_origins_when_configured() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.allowed_origins = vec!["https://app.example".into()];
    let s = start(o).await.unwrap();
    let addr = s.ws_addr.unwrap();
    let upgrade = |origin: &str| {
        format!(
            "GET /kurento HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
        )
    };
    for (origin, status) in [
        ("Origin: https://evil.example\r\n", "HTTP/1.1 403"),
        ("Origin: https://app.example\r\n", "HTTP/1.1 101"),
        ("", "HTTP/1.1 101"),
    ] {
        let mut t = TcpStream::connect(addr).await.unwrap();
        t.write_all(upgrade(origin).as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 256];
        let n = t.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with(status),
            "{origin}: {}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_limit_are_refused_and_the_connection_lives_on() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.limits.max_requests_in_flight = 1;
    let s = start(o).await.unwrap();
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    // One burst, one write: the reader takes the frames faster than pipelines are created.
    let n = 50u64;
    let mut burst = Vec::new();
    for id in 1..=n {
        burst.push(Message::text(
            json!({"jsonrpc":"2.0","id":id,"method":"create","params":{"type":"MediaPipeline"}})
                .to_string(),
        ));
    }
    let mut frames = futures_util::stream::iter(burst.into_iter().map(Ok));
    c.ws.send_all(&mut frames).await.unwrap();
    let (mut ok, mut refused) = (0, 0);
    let mut ids = std::collections::HashSet::new();
    for _ in 0..n {
        let r = c.recv().await;
        assert!(
            ids.insert(r["id"].as_u64().unwrap()),
            "one reply per request: {r}"
        );
        if r.get("result").is_some() {
            ok += 1;
        } else {
            assert_eq!(r["error"]["code"], json!(40009), "{r}");
            assert!(
                r["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("maxRequestsInFlight"),
                "{r}"
            );
            refused += 1;
        }
    }
    assert!(ok >= 1 && refused >= 1, "{ok} created, {refused} refused");
    // The connection still works.
    let r = c.call("create", json!({"type":"MediaPipeline"})).await;
    assert!(r.get("result").is_some(), "{r}");
}

/// KMS adds an element's own stats entry only while the pipeline's latencyStats is on: an
/// ElementStats ("element") for plain elements, an EndpointStats ("endpoint") for endpoints.
#[tokio::test]
async fn get_stats_element_entries_follow_latency_stats() {
    let s = media_server().await;
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let p = c.ok("create", json!({"type":"MediaPipeline"})).await;
    let sid = p["sessionId"].clone();
    let pipe = p["value"].clone();
    let pt = c
        .ok("create", json!({"type":"PassThrough","constructorParams":{"mediaPipeline":pipe},"sessionId":sid}))
        .await["value"]
        .clone();
    let ep = c
        .ok("create", json!({"type":"WebRtcEndpoint","constructorParams":{"mediaPipeline":pipe},"sessionId":sid}))
        .await["value"]
        .clone();
    async fn stats(c: &mut Client, obj: &Value, sid: &Value) -> Value {
        let req = json!({"object":obj,"operation":"getStats","sessionId":sid});
        c.ok("invoke", req).await["value"].clone()
    }
    assert_eq!(stats(&mut c, &pt, &sid).await, json!({}));
    assert!(stats(&mut c, &ep, &sid)
        .await
        .as_object()
        .is_some_and(|m| !m.values().any(|v| v["type"] == "endpoint")));
    let on = c
        .ok(
            "invoke",
            json!({"object":pipe,"operation":"getLatencyStats","sessionId":sid}),
        )
        .await;
    assert_eq!(on["value"], false);
    c.ok("invoke", json!({"object":pipe,"operation":"setLatencyStats","operationParams":{"latencyStats":true},"sessionId":sid})).await;
    let st = stats(&mut c, &pt, &sid).await;
    let e = &st[pt.as_str().unwrap_or_default()];
    assert_eq!(e["__type__"], "ElementStats", "{st}");
    assert_eq!(e["type"], "element");
    assert_eq!(e["inputLatency"], json!([]));
    let st = stats(&mut c, &ep, &sid).await;
    let e = &st[ep.as_str().unwrap_or_default()];
    assert_eq!(e["__type__"], "EndpointStats", "{st}");
    assert_eq!(e["type"], "endpoint");
    assert_eq!(e["E2ELatency"], json!([]));
    assert_eq!(e["videoE2ELatency"], 0.0);
}
