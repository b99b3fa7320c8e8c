//! Media never skips an element: a browser's video connected through a filter that lets nothing
//! out (GStreamerFilter `valve drop=true`) reaches nothing behind it, while the same video through
//! a PassThrough, or connected directly, arrives. If the router ever routed around an element,
//! B would get A's video through the valve. Real WebRTC peers (str0m) on 127.0.0.1, driven over
//! JSON-RPC.

mod webrtc_common;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use webrtc_common::*;

struct Rpc {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
    session: Value,
}

impl Rpc {
    async fn ok(&mut self, method: &str, mut params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        if !self.session.is_null() {
            params["sessionId"] = self.session.clone();
        }
        let req = json!({"jsonrpc":"2.0","method":method,"id":id,"params":params});
        self.ws.send(Message::text(req.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("reply timeout")
                .unwrap()
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                if self.session.is_null() {
                    self.session = v["result"]["sessionId"].clone();
                }
                return v["result"]["value"].clone();
            }
        }
    }

    async fn create(&mut self, ty: &str, pipeline: &Value) -> Value {
        self.ok(
            "create",
            json!({"type": ty, "constructorParams": {"mediaPipeline": pipeline}}),
        )
        .await
    }

    /// (isMediaFlowingIn, isMediaFlowingOut) for VIDEO.
    async fn video_flow(&mut self, element: &Value) -> (bool, bool) {
        let mut r = [false; 2];
        for (i, op) in ["isMediaFlowingIn", "isMediaFlowingOut"].iter().enumerate() {
            r[i] = self
                .ok(
                    "invoke",
                    json!({"object": element, "operation": op, "operationParams": {"mediaType": "VIDEO"}}),
                )
                .await
                == json!(true);
        }
        (r[0], r[1])
    }

    async fn connect(&mut self, source: &Value, sink: &Value) {
        self.ok(
            "invoke",
            json!({"object": source, "operation": "connect", "operationParams": {"sink": sink}}),
        )
        .await;
    }
}

/// A str0m peer negotiated with a WebRtcEndpoint over JSON-RPC.
async fn peer_for(rpc: &mut Rpc, ep: &Value) -> Peer {
    let mut peer = Peer::new().await;
    peer.host_candidate();
    let offer = peer.create_offer();
    let answer = rpc
        .ok(
            "invoke",
            json!({"object": ep, "operation": "processOffer", "operationParams": {"offer": offer}}),
        )
        .await;
    peer.accept_answer(answer.as_str().unwrap());
    rpc.ok(
        "invoke",
        json!({"object": ep, "operation": "gatherCandidates"}),
    )
    .await;
    peer
}

/// Sends video from `from` for `dur`, stepping both peers; returns the video packets `to` got.
async fn video_for(from: &mut Peer, to: &mut Peer, dur: Duration, frame: &mut usize) -> usize {
    let before = to.received_of(MediaKind::Video).len();
    let end = Instant::now() + dur;
    while Instant::now() < end {
        from.send(
            MediaKind::Video,
            &vp8_payload(*frame, (*frame).is_multiple_of(30)),
            true,
        );
        *frame += 1;
        from.step(Duration::from_millis(5)).await;
        to.step(Duration::from_millis(5)).await;
    }
    to.received_of(MediaKind::Video).len() - before
}

use kurento_media_server::media::MediaKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_never_skips_an_element_that_would_transform_it() {
    init_log();
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.webrtc.network_interfaces = Some(vec!["lo".into()]);
    let server = kurento_media_server::server::start(o).await.unwrap();
    let (ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/kurento", server.ws_addr.unwrap()))
            .await
            .unwrap();
    let mut rpc = Rpc {
        ws,
        next: 0,
        session: Value::Null,
    };
    let pipeline = rpc.ok("create", json!({"type": "MediaPipeline"})).await;
    let a = rpc.create("WebRtcEndpoint", &pipeline).await;
    let b = rpc.create("WebRtcEndpoint", &pipeline).await;
    let filter = rpc
        .ok(
            "create",
            json!({"type": "GStreamerFilter", "constructorParams": {
                "mediaPipeline": pipeline, "command": "valve drop=true"}}),
        )
        .await;
    let pass = rpc.create("PassThrough", &pipeline).await;
    let mut pa = peer_for(&mut rpc, &a).await;
    let mut pb = peer_for(&mut rpc, &b).await;
    let end = Instant::now() + Duration::from_secs(10);
    while !(pa.connected && pb.connected) {
        assert!(Instant::now() < end, "peers did not connect");
        pa.step(Duration::from_millis(5)).await;
        pb.step(Duration::from_millis(5)).await;
    }
    let mut frame = 0;

    // A → valve → B: the filter drops everything, so B gets nothing (not A's raw video).
    rpc.connect(&a, &filter).await;
    rpc.connect(&filter, &b).await;
    let through_filter = video_for(&mut pa, &mut pb, Duration::from_millis(1500), &mut frame).await;
    assert_eq!(through_filter, 0, "video skipped the filter");
    // KMS's flow states: media flows out of A into the pipeline and into the filter's input; the
    // filter's output carries nothing, so nothing flows into B.
    assert_eq!(rpc.video_flow(&a).await, (false, true), "A");
    assert_eq!(rpc.video_flow(&filter).await, (true, false), "filter");
    assert_eq!(rpc.video_flow(&b).await, (false, false), "B");

    // A → PassThrough → B: the same video arrives (this replaces the filter as B's source).
    rpc.connect(&a, &pass).await;
    rpc.connect(&pass, &b).await;
    let through_pass = video_for(&mut pa, &mut pb, Duration::from_millis(1500), &mut frame).await;
    assert!(
        through_pass > 50,
        "only {through_pass} packets through the PassThrough"
    );
    assert_eq!(rpc.video_flow(&pass).await, (true, true), "PassThrough");
    assert_eq!(
        rpc.video_flow(&b).await,
        (true, false),
        "B (its browser sends nothing)"
    );

    // Back behind the filter: the flow stops again.
    rpc.connect(&filter, &b).await;
    video_for(&mut pa, &mut pb, Duration::from_millis(300), &mut frame).await;
    let again = video_for(&mut pa, &mut pb, Duration::from_millis(1000), &mut frame).await;
    assert_eq!(again, 0, "video skipped the filter after a reconnect");
}
