//! A presenter whose network vanishes: one presenter and three viewers (loadgen's str0m peers)
//! in a network namespace of the test's own, behind a userspace link to the server (see
//! tests/netlink_impair/mod.rs). Mid-stream every UDP packet from or to the presenter's address
//! is dropped for 8 s (media, RTCP, and ICE consent checks both ways), then the link returns.
//! Watched over the Kurento JSON-RPC from a second session, with KMS's meaning of the flow
//! events: the presenter's endpoint raises MediaFlowOutStateChanged (media from its browser into
//! the pipeline) NOT_FLOWING for video during the cut and FLOWING after it, and each viewer's
//! raises MediaFlowInStateChanged (media from the pipeline to be sent to its browser) the same
//! way; the viewers' endpoints stay connected throughout (no ConnectionStateChanged to DISCONNECTED, no
//! MediaSessionTerminated, no ICE failure); and the viewers get decodable video again after
//! the cut, which needs a keyframe.

mod netlink_impair;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use netlink_impair::{available, init_log, ImpairedLink, Impairment};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const CUT: Duration = Duration::from_secs(8);
const VIEWERS: usize = 3;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A second JSON-RPC session that only watches: requests, and events kept with arrival time.
struct Observer {
    ws: Ws,
    next: u64,
    sid: Option<String>,
    events: Vec<(Instant, Value)>,
}

impl Observer {
    async fn read_one(&mut self, wait: Duration) -> Option<Value> {
        match tokio::time::timeout(wait, self.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["method"] == "onEvent" {
                    self.events
                        .push((Instant::now(), v["params"]["value"].clone()));
                    None
                } else {
                    Some(v)
                }
            }
            Ok(Some(Ok(_))) | Err(_) => None,
            Ok(other) => panic!("observer socket: {other:?}"),
        }
    }

    async fn call(&mut self, method: &str, mut params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        if let Some(sid) = &self.sid {
            params["sessionId"] = json!(sid);
        }
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.ws.send(Message::text(req.to_string())).await.unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < end, "no reply to {method}");
            if let Some(v) = self.read_one(Duration::from_millis(200)).await {
                if v["id"] == json!(id) {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    if let Some(s) = v["result"]["sessionId"].as_str() {
                        self.sid = Some(s.to_string());
                    }
                    return v["result"].clone();
                }
            }
        }
    }

    async fn subscribe(&mut self, object: &str, ty: &str) {
        self.call("subscribe", json!({"object": object, "type": ty}))
            .await;
    }

    /// Reads events for `d`.
    async fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.read_one(end - Instant::now()).await;
        }
    }

    fn of<'a>(&'a self, object: &'a str) -> impl Iterator<Item = &'a (Instant, Value)> + 'a {
        self.events
            .iter()
            .filter(move |(_, e)| e["object"] == object)
    }

    async fn flowing_out(&mut self, object: &str) -> bool {
        let r = self
            .call(
                "invoke",
                json!({"object": object, "operation": "isMediaFlowingOut",
                       "operationParams": {"mediaType": "VIDEO"}}),
            )
            .await;
        r["value"] == json!(true)
    }

    fn video_flow(&self, object: &str, ty: &str, state: &str, after: Instant) -> Option<Instant> {
        self.of(object)
            .find(|(t, e)| {
                *t >= after
                    && e["type"] == ty
                    && e["data"]["mediaType"] == "VIDEO"
                    && e["data"]["state"] == state
            })
            .map(|(t, _)| *t)
    }
}

#[test]
fn presenter_network_vanishes_viewers_stay_and_resume() {
    init_log();
    if !available("presenter_network_vanishes_viewers_stay_and_resume") {
        return;
    }
    let started = Instant::now();
    let link = ImpairedLink::new(Impairment::default());
    let presenter_ip = link.ns_ips[1];
    let (rt, server) = link.start_server();
    let addr = server.ws_addr.unwrap();
    let url = format!("ws://{addr}/kurento");

    let mut obs = rt.block_on(async {
        let ws = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap()
            .0;
        let mut obs = Observer {
            ws,
            next: 0,
            sid: None,
            events: Vec::new(),
        };
        obs.call("describe", json!({"object": "manager_ServerManager"}))
            .await;
        obs.subscribe("manager_ServerManager", "ObjectCreated")
            .await;
        obs
    });

    let cfg = loadgen::Config {
        url,
        viewers: VIEWERS,
        late_joiners: 0,
        duration: Duration::from_secs(20),
        bitrate_kbps: 500,
        server_pid: None,
        setup_concurrency: VIEWERS,
        local_ip: link.ns_ips[0].into(),
        presenter_ip: Some(presenter_ip.into()),
    };
    let peers = link.spawn_in_ns(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(50), loadgen::run(cfg)).await
        })
    });

    let (presenter, viewers, cut_at, back_at, watched_until) = rt.block_on(async {
        // The endpoints in creation order: loadgen creates the presenter's first.
        let mut eps: Vec<String> = Vec::new();
        let end = Instant::now() + Duration::from_secs(20);
        while eps.len() < 1 + VIEWERS {
            assert!(
                Instant::now() < end,
                "endpoints not created: {:?}",
                obs.events
            );
            obs.pump(Duration::from_millis(100)).await;
            let created: Vec<String> = obs
                .events
                .iter()
                .filter(|(_, e)| e["type"] == "ObjectCreated")
                .filter_map(|(_, e)| e["data"]["object"].as_str().map(String::from))
                .filter(|id| id.contains("WebRtcEndpoint"))
                .collect();
            for id in created {
                if !eps.contains(&id) {
                    let events: &[&str] = if eps.is_empty() {
                        &["MediaFlowOutStateChanged", "IceComponentStateChanged"]
                    } else {
                        &[
                            "ConnectionStateChanged",
                            "MediaSessionTerminated",
                            "IceComponentStateChanged",
                            "MediaFlowInStateChanged",
                        ]
                    };
                    for ty in events {
                        obs.subscribe(&id, ty).await;
                    }
                    eps.push(id);
                }
            }
        }
        let presenter = eps[0].clone();
        let viewers = eps[1..].to_vec();
        // Video flows in from the presenter (it may have started before the subscription, so
        // ask), and the viewers have had time to connect.
        let end = Instant::now() + Duration::from_secs(20);
        while !obs.flowing_out(&presenter).await {
            assert!(Instant::now() < end, "presenter video never flowed");
            obs.pump(Duration::from_millis(100)).await;
        }
        obs.pump(Duration::from_secs(4)).await;

        link.set(|i| i.cut = Some(presenter_ip));
        let cut_at = Instant::now();
        obs.pump(CUT).await;
        link.set(|i| i.cut = None);
        let back_at = Instant::now();
        // Watch until well after the return, but stop before loadgen ends the stream.
        obs.pump(Duration::from_secs(6)).await;
        (presenter, viewers, cut_at, back_at, Instant::now())
    });

    let (r, l) = link.finish(peers, rt, server);
    let r = r
        .expect("load generator bounded in time")
        .expect("load generator ran");

    println!("{}", r.to_table());
    let secs = |t: Instant| t.saturating_duration_since(cut_at).as_secs_f64();
    for (t, e) in &obs.events {
        if e["type"] != "ObjectCreated" {
            let who = if e["object"] == presenter.as_str() {
                "presenter"
            } else {
                "viewer"
            };
            println!("{:+7.2} s {who} {} {}", secs(*t), e["type"], e["data"]);
        }
    }
    println!(
        "link: {} UDP packets to / {} from the peers dropped by the cut",
        l.down.cut, l.up.cut
    );
    const OUT: &str = "MediaFlowOutStateChanged";
    let not_flowing = obs.video_flow(&presenter, OUT, "NOT_FLOWING", cut_at);
    let flowing_again = obs.video_flow(&presenter, OUT, "FLOWING", back_at);
    println!(
        "SUMMARY cut {:.0} s: presenter video NOT_FLOWING after {:?} s, FLOWING again {:?} s after the \
         return; viewers connected {}/{VIEWERS}; frames decodable {:.1} %; took {:.1} s",
        CUT.as_secs_f64(),
        not_flowing.map(|t| (t - cut_at).as_secs_f64()),
        flowing_again.map(|t| (t - back_at).as_secs_f64()),
        r.viewers_connected,
        r.frames_decodable_pct,
        started.elapsed().as_secs_f64()
    );

    // The cut really cut: both directions of the presenter's traffic.
    assert!(l.down.cut > 5 && l.up.cut > 100, "{l:?}");
    let nf = not_flowing.expect("presenter MediaFlowOut NOT_FLOWING during the cut");
    assert!(nf - cut_at < CUT, "NOT_FLOWING came only after the return");
    let fa = flowing_again.expect("presenter MediaFlowOut FLOWING after the return");
    assert!(
        fa - back_at < Duration::from_secs(5),
        "video flowed again too late"
    );
    for v in &viewers {
        // What reaches a viewer's endpoint from the pipeline stops and returns with the presenter.
        const IN: &str = "MediaFlowInStateChanged";
        let stopped = obs.video_flow(v, IN, "NOT_FLOWING", cut_at);
        assert!(
            stopped.is_some_and(|t| t - cut_at < CUT),
            "viewer {v}: no MediaFlowIn NOT_FLOWING in the cut"
        );
        assert!(
            obs.video_flow(v, IN, "FLOWING", back_at).is_some(),
            "viewer {v}: no MediaFlowIn FLOWING after the return"
        );
        for (t, e) in obs.of(v) {
            let bad = match e["type"].as_str() {
                Some("ConnectionStateChanged") => e["data"]["newState"] == "DISCONNECTED",
                Some("MediaSessionTerminated") => true,
                Some("IceComponentStateChanged") => {
                    matches!(e["data"]["state"].as_str(), Some("FAILED" | "DISCONNECTED"))
                }
                _ => false,
            };
            assert!(
                !(bad && *t <= watched_until),
                "viewer {v}: {e} at {:+.2} s",
                secs(*t)
            );
        }
    }
    assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
    assert_eq!(r.viewers_connected, VIEWERS, "{}", r.to_table());
    let last_sent = r.presenter.last_frame.expect("presenter sent frames");
    let cut_frames = (CUT.as_secs_f64() * 30.0) as u32;
    for (i, v) in r.viewers.iter().enumerate() {
        let first = v.first_frame.expect("viewer got a keyframe");
        let expected = last_sent - first + 1;
        println!(
            "viewer {i}: frames {first}..{:?} of {last_sent}, skipped {}, complete {}, decodable {}, PLIs {}",
            v.last_frame, v.frames_skipped, v.frames_complete, v.frames_decodable, v.keyframe_requests
        );
        // The cut shows as frames that never came...
        assert!(
            v.frames_skipped >= cut_frames as u64 / 2,
            "viewer {i}: no gap"
        );
        // ...and the stream came back to the end, decodable, so a keyframe arrived after it:
        // without one, nothing after the cut is decodable. 3 s of slack for the recovery.
        assert!(
            v.last_frame.is_some_and(|l| l + 15 >= last_sent),
            "viewer {i} stopped receiving at {:?} of {last_sent}",
            v.last_frame
        );
        assert!(
            v.frames_decodable + cut_frames as u64 + 90 >= expected as u64,
            "viewer {i}: {} decodable of {expected} expected",
            v.frames_decodable
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
