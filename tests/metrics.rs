//! The Prometheus endpoint end to end: a JSON-RPC client on 127.0.0.1 creates and releases
//! objects, and a plain HTTP scrape reads what the server says it holds and answered.

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

async fn server(token: Option<&str>) -> RunningServer {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.webrtc.network_interfaces = Some(vec!["lo".into()]);
    o.metrics = Some("127.0.0.1:0".parse().unwrap());
    o.access_token = token.map(str::to_string);
    start(o).await.unwrap()
}

/// (status line, body) of one request.
async fn http(addr: SocketAddr, head: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .expect("metrics reply timeout")
        .unwrap();
    let (h, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (h.lines().next().unwrap_or("").to_string(), body.to_string())
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    body
}

/// The value of the sample whose name and labels are exactly `series`.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

struct Client {
    ws: Ws,
    next: u64,
    session: Option<String>,
}

impl Client {
    async fn new(addr: SocketAddr) -> Client {
        let ws = connect_async(format!("ws://{addr}/kurento"))
            .await
            .unwrap()
            .0;
        Client {
            ws,
            next: 0,
            session: None,
        }
    }

    async fn call(&mut self, method: &str, mut params: Value) -> Value {
        self.next += 1;
        if let Some(s) = &self.session {
            params["sessionId"] = json!(s);
        }
        let req = json!({"jsonrpc":"2.0","method":method,"id":self.next,"params":params});
        self.ws.send(Message::text(req.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("reply timeout")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == json!(self.next) {
                    if let Some(s) = v["result"]["sessionId"].as_str() {
                        self.session = Some(s.to_string());
                    }
                    return v;
                }
            }
        }
    }
}

#[tokio::test]
async fn metrics_count_what_the_server_holds_and_what_it_answered() {
    let s = server(None).await;
    let m = s.metrics_addr.expect("metrics listener");
    let mut c = Client::new(s.ws_addr.unwrap()).await;
    let p = c
        .call("create", json!({"type":"MediaPipeline","properties":{}}))
        .await;
    let pipe = p["result"]["value"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let e = c
            .call(
                "create",
                json!({"type":"WebRtcEndpoint","constructorParams":{"mediaPipeline":pipe}}),
            )
            .await;
        assert!(e["result"]["value"].is_string(), "{e}");
    }
    let bad = c
        .call("invoke", json!({"object":"nope","operation":"play"}))
        .await;
    let code = bad["error"]["code"].as_i64().unwrap();

    let body = scrape(m).await;
    assert_eq!(value(&body, "kms_sessions"), Some(1.0), "{body}");
    assert_eq!(value(&body, "kms_pipelines"), Some(1.0));
    assert_eq!(
        value(&body, "kms_elements{type=\"WebRtcEndpoint\"}"),
        Some(2.0)
    );
    assert!(value(&body, "kms_websocket_connections").unwrap() >= 1.0);
    // Counters are process-wide: other tests of this binary may have added to them.
    assert!(
        value(
            &body,
            "kms_rpc_requests_total{method=\"create\",code=\"ok\"}"
        )
        .unwrap()
            >= 3.0
    );
    assert!(
        value(
            &body,
            &format!("kms_rpc_requests_total{{method=\"invoke\",code=\"{code}\"}}")
        )
        .unwrap()
            >= 1.0,
        "{body}"
    );
    assert!(
        value(&body, "process_cpu_seconds_total").unwrap_or(-1.0) > 0.0,
        "{body}"
    );
    assert!(value(&body, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(body.contains("# TYPE kms_forwarding_latency_seconds histogram"));
    assert!(body.ends_with("# EOF\n"));

    c.call("release", json!({"object": pipe})).await;
    let body = scrape(m).await;
    assert_eq!(value(&body, "kms_pipelines"), Some(0.0));
    assert!(
        !body.contains("kms_elements{"),
        "released classes are not left at zero: {body}"
    );
}

#[tokio::test]
async fn metrics_need_the_access_token_when_one_is_set() {
    let s = server(Some("t0k3n")).await;
    let m = s.metrics_addr.unwrap();
    let (status, _) = http(m, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, _) = http(
        m,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let (status, body) = http(
        m,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer t0k3n\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("kms_sessions 0"), "{body}");
    let (status, _) = http(m, "GET /metrics?access_token=t0k3n HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn hostile_requests_get_an_http_error_and_the_listener_goes_on() {
    let s = server(None).await;
    let m = s.metrics_addr.unwrap();
    let (status, _) = http(m, "GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = http(m, "DELETE /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    // Longer than any head the listener reads, and never finished (all of it is read, so the
    // reply is not lost to a reset).
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}", "a".repeat(9_000));
    let (status, _) = http(m, &huge).await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    let (status, _) = http(m, "\0\0\0\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    scrape(m).await;
}

#[tokio::test]
async fn no_metrics_listener_unless_configured() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    let s = start(o).await.unwrap();
    assert_eq!(s.metrics_addr, None);
}
