//! The same one-to-many scenario against Janus's VideoRoom plugin, over Janus's HTTP REST API
//! with long polling, so the two servers are measured with the same media and the same viewers.
//!
//! Sequence: create a session and a control handle, create
//! a room; the presenter attaches, joins as publisher (its `id` is the feed), configures with
//! our sendonly offer and trickles its candidate; once Janus reports `webrtcup` and video
//! `receiving`, each viewer attaches its own handle, joins as subscriber of the feed, gets an
//! OFFER from Janus, answers it with `start` and trickles. Every `message` is acknowledged at
//! once and answered later on the long poll (`GET /janus/<session>?maxev=N`), matched by
//! transaction; handle events (`webrtcup`, `media`, `trickle`, `hangup`) are routed by sender.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::Input;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::http::{self, Url};
use crate::peer::{self, Net};
use crate::{Announce, Config, Report};

/// Like the Kurento client's request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Janus answers a long poll after 30 s without events; allow for that plus slack.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);
/// Well below the `session_timeout` (60 s in the bench config).
const KEEPALIVE: Duration = Duration::from_secs(15);
const MAX_EVENTS_PER_POLL: usize = 50;

type Waiters = Mutex<HashMap<String, oneshot::Sender<Value>>>;
type Handles = Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking holder cannot leave these maps inconsistent (single insert/remove calls).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One Janus session: requests, and the long poll that delivers the asynchronous replies.
struct Janus {
    url: Url,
    session: u64,
    waiters: Waiters,
    handles: Handles,
    next_tx: AtomicU64,
}

/// An id in a reply: Janus sends them as JSON numbers.
fn id_of(v: &Value, what: &str) -> Result<u64, String> {
    v["data"]["id"]
        .as_u64()
        .ok_or_else(|| format!("{what}: no id in {v}"))
}

/// The plugin's own reply (`plugindata.data`), or its error.
fn plugin_data(ev: &Value) -> Result<&Value, String> {
    let d = &ev["plugindata"]["data"];
    if let Some(e) = d.get("error") {
        return Err(format!("videoroom error {}: {e}", d["error_code"]));
    }
    if d.is_null() {
        return Err(format!("no plugin data in {ev}"));
    }
    Ok(d)
}

fn janus_error(v: &Value) -> String {
    let e = &v["error"];
    format!("Janus error {}: {}", e["code"], e["reason"])
}

impl Janus {
    async fn create(url: Url) -> Result<Arc<Janus>, String> {
        let r = http::request(
            &url.host,
            "POST",
            &url.path,
            Some(&json!({"janus": "create", "transaction": "create"})),
            REQUEST_TIMEOUT,
        )
        .await?;
        if r["janus"] != "success" {
            return Err(format!("create session: {}", janus_error(&r)));
        }
        let session = id_of(&r, "create session")?;
        Ok(Arc::new(Janus {
            url,
            session,
            waiters: Mutex::default(),
            handles: Mutex::default(),
            next_tx: AtomicU64::new(0),
        }))
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed))
    }

    async fn post(&self, path: &str, mut body: Value) -> Result<Value, String> {
        if body.get("transaction").is_none() {
            body["transaction"] = self.transaction().into();
        }
        let path = format!("{}/{}{path}", self.url.path, self.session);
        http::request(&self.url.host, "POST", &path, Some(&body), REQUEST_TIMEOUT).await
    }

    /// Attaches a VideoRoom handle whose events (without a transaction of ours) go to the
    /// returned channel.
    async fn attach(&self) -> Result<(u64, mpsc::UnboundedReceiver<Value>), String> {
        let r = self
            .post(
                "",
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        if r["janus"] != "success" {
            return Err(format!("attach: {}", janus_error(&r)));
        }
        let h = id_of(&r, "attach")?;
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.handles).insert(h, tx);
        Ok((h, rx))
    }

    /// Sends a plugin message and returns the plugin's reply event (which carries `jsep`, if
    /// any): synchronous requests answer in the POST response, the others on the long poll.
    async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, String> {
        let tx = self.transaction();
        let what = body["request"].as_str().unwrap_or("message").to_string();
        let mut m = json!({"janus": "message", "transaction": tx, "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        let (wtx, wrx) = oneshot::channel();
        // Registered before sending: the event may reach the long poll before the ack arrives.
        lock(&self.waiters).insert(tx.clone(), wtx);
        let r = self.post(&format!("/{handle}"), m).await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                lock(&self.waiters).remove(&tx);
                return Err(e);
            }
        };
        let ev = match r["janus"].as_str() {
            Some("success") => {
                lock(&self.waiters).remove(&tx);
                r
            }
            Some("ack") => {
                let w = tokio::time::timeout(REQUEST_TIMEOUT, wrx).await;
                lock(&self.waiters).remove(&tx);
                match w {
                    Ok(Ok(ev)) => ev,
                    Ok(Err(_)) => return Err("session closed before the reply".into()),
                    Err(_) => return Err(format!("no reply to {what} within {REQUEST_TIMEOUT:?}")),
                }
            }
            _ => {
                lock(&self.waiters).remove(&tx);
                return Err(janus_error(&r));
            }
        };
        if ev["janus"] == "error" {
            return Err(janus_error(&ev));
        }
        plugin_data(&ev)?;
        Ok(ev)
    }

    async fn trickle(&self, handle: u64, candidate: Value) -> Result<(), String> {
        let r = self
            .post(
                &format!("/{handle}"),
                json!({"janus": "trickle", "candidate": candidate}),
            )
            .await?;
        match r["janus"].as_str() {
            Some("ack") | Some("success") => Ok(()),
            _ => Err(format!("trickle: {}", janus_error(&r))),
        }
    }

    /// Our one host candidate, then end-of-candidates.
    async fn trickle_local(&self, handle: u64, cand: &str, mid: &str) -> Result<(), String> {
        let c = cand.strip_prefix("a=").unwrap_or(cand).trim_end();
        self.trickle(
            handle,
            json!({"candidate": c, "sdpMid": mid, "sdpMLineIndex": 0}),
        )
        .await?;
        self.trickle(handle, json!({"completed": true})).await
    }

    fn dispatch(&self, ev: Value) {
        if let Some(t) = ev["transaction"].as_str() {
            if let Some(w) = lock(&self.waiters).remove(t) {
                let _ = w.send(ev);
                return;
            }
        }
        match ev["sender"].as_u64() {
            Some(h) => match lock(&self.handles).get(&h) {
                Some(tx) => {
                    let _ = tx.send(ev);
                }
                None => debug!(handle = h, "event for an unknown handle: {ev}"),
            },
            None => debug!("session event: {ev}"),
        }
    }

    /// Long-polls until `stop`; every poll also keeps the session alive.
    async fn poll(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let path = format!(
            "{}/{}?maxev={MAX_EVENTS_PER_POLL}",
            self.url.path, self.session
        );
        let mut failures = 0u32;
        loop {
            let r = tokio::select! {
                r = http::request(&self.url.host, "GET", &path, None, POLL_TIMEOUT) => r,
                _ = stop.changed() => return,
            };
            match r {
                Ok(Value::Array(evs)) => {
                    failures = 0;
                    evs.into_iter().for_each(|e| self.dispatch(e));
                }
                Ok(ev) => {
                    failures = 0;
                    if ev["janus"] != "keepalive" {
                        self.dispatch(ev);
                    }
                }
                Err(e) => {
                    failures += 1;
                    warn!("long poll: {e}");
                    if failures >= 5 {
                        warn!("long poll failing, giving up");
                        // Dropping the waiters fails every outstanding request at once.
                        lock(&self.waiters).clear();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn keepalive(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(KEEPALIVE) => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.post("", json!({"janus": "keepalive"})).await {
                warn!("keepalive: {e}");
            }
        }
    }

    async fn destroy(&self) {
        match self.post("", json!({"janus": "destroy"})).await {
            Ok(r) if r["janus"] == "success" => {}
            Ok(r) => warn!("destroy session: {}", janus_error(&r)),
            Err(e) => warn!("destroy session: {e}"),
        }
    }
}

/// The SDP of a reply's `jsep`, if it is of type `ty`.
fn jsep_sdp<'a>(ev: &'a Value, ty: &str) -> Result<&'a str, String> {
    let j = &ev["jsep"];
    if j["type"] != ty {
        return Err(format!("expected a jsep {ty}, got {j}"));
    }
    j["sdp"]
        .as_str()
        .ok_or_else(|| format!("jsep {ty} without sdp"))
}

/// Forwards a handle's events: remote candidates to the peer (in the shape `Net` reads),
/// `webrtcup` and video `receiving` to `up` (the publisher waits for both), the rest logged.
fn route_handle_events(
    handle: u64,
    mut events: mpsc::UnboundedReceiver<Value>,
    to_peer: mpsc::UnboundedSender<Value>,
    up: Option<oneshot::Sender<()>>,
) {
    tokio::spawn(async move {
        let (mut webrtcup, mut receiving) = (false, false);
        let mut up = up;
        while let Some(ev) = events.recv().await {
            match ev["janus"].as_str() {
                Some("trickle") => {
                    if let Some(c) = ev["candidate"]["candidate"].as_str() {
                        let _ = to_peer.send(json!({"data": {"candidate": {"candidate": c}}}));
                    }
                }
                Some("webrtcup") => webrtcup = true,
                Some("media") => {
                    if ev["type"] == "video" && ev["receiving"] == true {
                        receiving = true;
                    }
                }
                // A PeerConnection going away mid-run shows in the report as loss; say why.
                Some("hangup") | Some("detached") => warn!(handle, "Janus: {ev}"),
                _ => debug!(handle, "Janus event: {ev}"),
            }
            if webrtcup && receiving {
                if let Some(tx) = up.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
}

/// Publisher: join the room, configure with our offer, trickle. Returns the signalled peer,
/// the feed id (as JSON text), and the audio and video mids.
async fn publish(
    j: &Janus,
    room: u64,
    up: oneshot::Sender<()>,
) -> Result<(Net, String, str0m::media::Mid, str0m::media::Mid), String> {
    let (h, events) = j.attach().await?;
    let joined = j
        .message(
            h,
            json!({"request": "join", "ptype": "publisher", "room": room, "display": "loadgen"}),
            None,
        )
        .await?;
    let feed = plugin_data(&joined)?["id"].clone();
    if feed.is_null() {
        return Err(format!("publisher join: no feed id in {joined}"));
    }
    let (peer_tx, peer_rx) = mpsc::unbounded_channel();
    route_handle_events(h, events, peer_tx, Some(up));
    let mut rtc = peer::new_rtc(false);
    let mut api = rtc.sdp_api();
    let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or("no SDP changes to offer")?;
    let offer = peer::strip_candidates(&offer.to_sdp_string());
    let ev = j
        .message(
            h,
            json!({"request": "configure", "audio": true, "video": true}),
            Some(json!({"type": "offer", "sdp": offer})),
        )
        .await?;
    debug!(handle = h, "answer from Janus: {}", ev["jsep"]["sdp"]);
    let answer_sdp = jsep_sdp(&ev, "answer")?;
    let answer = SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| format!("bad answer: {e}"))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("answer not accepted: {e}"))?;
    let (mut net, cand) = Net::bind(rtc, peer_ip(answer_sdp)?, peer_rx).await?;
    j.trickle_local(h, &cand, &audio.to_string()).await?;
    start_ice(&mut net)?;
    debug!(handle = h, %feed, "publisher configured");
    Ok((net, feed.to_string(), audio, video))
}

/// Subscriber: join the feed, answer Janus's offer with `start`, trickle.
async fn subscribe(j: &Janus, room: u64, feed: &str) -> Result<(Net, Mid), String> {
    let feed: Value = serde_json::from_str(feed).map_err(|e| format!("feed id {feed}: {e}"))?;
    let (h, events) = j.attach().await?;
    let (peer_tx, peer_rx) = mpsc::unbounded_channel();
    route_handle_events(h, events, peer_tx, None);
    let ev = j
        .message(
            h,
            json!({"request": "join", "ptype": "subscriber", "room": room,
                   "streams": [{"feed": feed}]}),
            None,
        )
        .await?;
    let offer_sdp = jsep_sdp(&ev, "offer")?;
    let video_mid = video_mid(offer_sdp)?;
    let offer =
        SdpOffer::from_sdp_string(offer_sdp).map_err(|e| format!("bad offer from Janus: {e}"))?;
    let (mut net, cand) = Net::bind(peer::new_rtc(true), peer_ip(offer_sdp)?, peer_rx).await?;
    let answer = net
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| format!("offer not accepted: {e}"))?;
    let answer = peer::strip_candidates(&answer.to_sdp_string());
    j.message(
        h,
        json!({"request": "start"}),
        Some(json!({"type": "answer", "sdp": answer})),
    )
    .await?;
    j.trickle_local(h, &cand, &first_mid(offer_sdp)).await?;
    start_ice(&mut net)?;
    debug!(handle = h, "subscriber started");
    Ok((net, video_mid))
}

/// The mid of the video section of an SDP.
fn video_mid(sdp: &str) -> Result<Mid, String> {
    let mut in_video = false;
    for l in sdp.lines().map(str::trim_end) {
        if l.starts_with("m=") {
            in_video = l.starts_with("m=video");
        } else if let Some(mid) = l.strip_prefix("a=mid:").filter(|_| in_video) {
            return Ok(Mid::from(mid));
        }
    }
    Err("Janus offered no video section with a mid".into())
}

/// The address our peer binds to: the one of Janus's first IPv4 UDP candidate.
///
/// Janus 1.1 never gathers on loopback interfaces (its ICE setup skips `IFF_LOOPBACK`, and
/// `ice_enforce_list = "lo"` cannot override that), so it offers the host's other addresses
/// only, and libnice does not answer checks coming from 127.0.0.1 to them. Binding our peer
/// to the very address Janus advertises keeps both ends on one local address: the bind fails
/// unless the address belongs to this host, and the kernel delivers such traffic over `lo`.
fn peer_ip(sdp: &str) -> Result<std::net::IpAddr, String> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=candidate:"))
        .filter_map(|c| {
            let f: Vec<&str> = c.split_whitespace().collect();
            let udp = f.get(2)?.eq_ignore_ascii_case("udp");
            let ip: std::net::IpAddr = f.get(4)?.parse().ok()?;
            (udp && ip.is_ipv4()).then_some(ip)
        })
        .next()
        .ok_or_else(|| "Janus offered no IPv4 UDP candidate".to_string())
}

/// Janus's candidates came inside its SDP, so no trickle event will wake the peer, and str0m
/// starts its connectivity checks only on an input: give it the first tick.
fn start_ice(net: &mut Net) -> Result<(), String> {
    net.rtc
        .handle_input(Input::Timeout(Instant::now()))
        .map_err(|e| format!("start ICE: {e}"))
}

/// The first m-line's `a=mid`, which our bundled candidate is signalled against.
fn first_mid(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .unwrap_or("0")
        .to_string()
}

/// Publisher task: signalling, then the common presenter media loop. The scenario hears of the
/// presenter only once Janus reports its PeerConnection up and video arriving (a subscriber
/// joining earlier gets "No such feed").
async fn presenter(
    j: Arc<Janus>,
    room: u64,
    announce: Announce,
    bitrate_kbps: u32,
    epoch: Instant,
    stop: watch::Receiver<bool>,
) -> Result<crate::PresenterStats, String> {
    let (up_tx, up_rx) = oneshot::channel();
    let (connected_tx, connected_rx) = oneshot::channel::<Result<(String, Instant), String>>();
    tokio::spawn(async move {
        let r = match connected_rx.await {
            Ok(Ok((feed, at))) => match tokio::time::timeout(REQUEST_TIMEOUT, up_rx).await {
                Ok(Ok(())) => Ok((feed, at)),
                _ => Err("Janus never reported the publisher up and receiving video".into()),
            },
            Ok(Err(e)) => Err(e),
            Err(_) => Err("presenter ended before connecting".into()),
        };
        let _ = announce.send(r);
    });
    let signalled = publish(&j, room, up_tx).await;
    peer::presenter_with(signalled, connected_tx, bitrate_kbps, epoch, stop).await
}

/// Runs the scenario against Janus at `cfg.url` (`http://HOST:PORT/janus`): a fresh room,
/// destroyed with the session at the end.
pub async fn run(cfg: Config) -> Result<Report, String> {
    let epoch = Instant::now();
    peer::now_us(epoch);
    let url = Url::parse(&cfg.url)?;
    let j = Janus::create(url).await?;
    let (stop_poll, poll_rx) = watch::channel(false);
    let poller = tokio::spawn(j.clone().poll(poll_rx.clone()));
    let keepalive = tokio::spawn(j.clone().keepalive(poll_rx));
    let r = run_in_session(&cfg, &j, epoch).await;
    let _ = stop_poll.send(true);
    j.destroy().await;
    let _ = poller.await;
    let _ = keepalive.await;
    r
}

async fn run_in_session(cfg: &Config, j: &Arc<Janus>, epoch: Instant) -> Result<Report, String> {
    let (control, _events) = j.attach().await?;
    // A random room, so a run never collides with another one's leftovers.
    let room: u64 = rand::random_range(1_000_000..1_000_000_000);
    let created = j
        .message(
            control,
            json!({"request": "create", "room": room, "publishers": 4,
                   "videocodec": "vp8", "audiocodec": "opus", "permanent": false}),
            None,
        )
        .await?;
    if plugin_data(&created)?["videoroom"] != "created" {
        return Err(format!("create room: {created}"));
    }
    info!(room, session = j.session, "Janus room created");
    let bitrate = cfg.bitrate_kbps;
    let r = crate::run_on(
        cfg,
        |announce, stop| -> JoinHandle<_> {
            tokio::spawn(presenter(j.clone(), room, announce, bitrate, epoch, stop))
        },
        |feed, late, permit, stop| {
            let (j, feed) = (j.clone(), feed.to_string());
            tokio::spawn(async move {
                let sig = subscribe(&j, room, &feed);
                peer::viewer_with(sig, late, epoch, permit, stop).await
            })
        },
    )
    .await;
    if let Err(e) = j
        .message(control, json!({"request": "destroy", "room": room}), None)
        .await
    {
        warn!("destroy room: {e}");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_errors() {
        let ok =
            json!({"janus": "event", "plugindata": {"data": {"videoroom": "joined", "id": 5}}});
        assert_eq!(plugin_data(&ok).unwrap()["id"], 5);
        let err = json!({"janus": "event", "plugindata": {"data": {"error_code": 428, "error": "No such feed"}}});
        assert!(plugin_data(&err).unwrap_err().contains("428"));
        assert!(plugin_data(&json!({"janus": "ack"})).is_err());
        assert_eq!(id_of(&json!({"data": {"id": 7}}), "x"), Ok(7));
        assert!(id_of(&json!({"data": {}}), "x").is_err());
    }

    #[test]
    fn jsep_and_mid() {
        let ev = json!({"jsep": {"type": "offer", "sdp": "v=0\r\nm=audio 9\r\na=mid:a0\r\nm=video 9\r\na=mid:v1\r\n"}});
        let sdp = jsep_sdp(&ev, "offer").unwrap();
        assert_eq!(first_mid(sdp), "a0");
        assert!(jsep_sdp(&ev, "answer").is_err());
        assert_eq!(first_mid("v=0\r\n"), "0");
    }

    #[test]
    fn peer_ip_is_janus_first_ipv4_udp_candidate() {
        let sdp = "v=0\r\na=candidate:2 1 udp 2015363583 fd00::2 20557 typ host\r\n\
                   a=candidate:9 1 tcp 1015363583 192.0.2.9 9 typ host tcptype active\r\n\
                   a=candidate:1 1 udp 2015363327 192.0.2.2 22044 typ host\r\n";
        assert_eq!(peer_ip(sdp), Ok("192.0.2.2".parse().unwrap()));
        assert!(peer_ip("v=0\r\na=candidate:1 1 udp 1 fd00::2 1 typ host\r\n").is_err());
        assert!(peer_ip("a=candidate:garbage").is_err());
    }
}
