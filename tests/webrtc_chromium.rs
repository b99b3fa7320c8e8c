//! Headless Chromium (fake camera + microphone) against our endpoint over 127.0.0.1, in the
//! hello-world shape: everything the endpoint receives is sent back into it, and the page
//! checks that it decodes the echoed video and receives the echoed audio.
//! Chromium must be installed (`apt-get install chromium`); the test fails loudly otherwise.

mod webrtc_common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kurento_media_server::media::{ElementId, FromElement, GraphInbox};
use kurento_media_server::webrtc::{
    spawn_endpoint, EndpointConfig, MediaKind, WebRtcEvent, WebRtcHandle,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = r#"<!doctype html><html><body><script>
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function report(obj) { await fetch('/result', {method: 'POST', body: JSON.stringify(obj)}); }
(async () => {
  try {
    const pc = new RTCPeerConnection();
    const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
    stream.getTracks().forEach(t => pc.addTrack(t, stream));
    const want = new URLSearchParams(location.search).get('codec');
    if (want) {
      const caps = RTCRtpSender.getCapabilities('video').codecs
        .filter(c => c.mimeType.toLowerCase() === 'video/' + want.toLowerCase());
      if (!caps.length) { await report({error: 'codec not available: ' + want}); return; }
      pc.getTransceivers().find(t => t.sender.track && t.sender.track.kind === 'video')
        .setCodecPreferences(caps);
    }
    await pc.setLocalDescription(await pc.createOffer());
    while (pc.iceGatheringState !== 'complete') await sleep(20);
    // Keep media on loopback: only 127.0.0.1 candidates are signalled.
    // With ?tcp=1 only TCP candidates are signalled both ways, forcing ICE-TCP.
    const tcpOnly = new URLSearchParams(location.search).get('tcp') === '1';
    const keep = l => !l.startsWith('a=candidate') ||
      (l.includes(' 127.0.0.1 ') && (!tcpOnly || l.toLowerCase().includes(' tcp ')));
    const sdp = pc.localDescription.sdp.split('\r\n').filter(keep).join('\r\n');
    const r = await fetch('/offer', {method: 'POST', body: sdp});
    if (!r.ok) { await report({error: 'offer rejected: ' + await r.text()}); return; }
    const answer = (await r.text()).split('\r\n').filter(keep).join('\r\n');
    await pc.setRemoteDescription({type: 'answer', sdp: answer});
    const mid = answer.split('\r\n').find(l => l.startsWith('a=mid:')).substring(6);
    const trickled = (await (await fetch('/candidates')).text()).split('\n').filter(l => l);
    for (const c of trickled) {
      if (keep('a=' + c)) await pc.addIceCandidate({candidate: c, sdpMid: mid, sdpMLineIndex: 0});
    }
    let last = {};
    for (let i = 0; i < 150; i++) {
      await sleep(100);
      const stats = await pc.getStats();
      let frames = 0, audioBytes = 0, codec = '', pair = '';
      stats.forEach(s => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          frames = s.framesDecoded || 0;
          const c = stats.get(s.codecId); if (c) codec = c.mimeType;
        }
        if (s.type === 'inbound-rtp' && s.kind === 'audio') audioBytes = s.bytesReceived || 0;
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const p = stats.get(s.selectedCandidatePairId);
          const l = stats.get(p.localCandidateId), rc = stats.get(p.remoteCandidateId);
          pair = `${l.address}:${l.port} ${l.candidateType} ${l.protocol} <-> ${rc.address}:${rc.port} ${rc.candidateType} ${rc.protocol}`;
        }
      });
      last = {frames, audioBytes, codec, pair, conn: pc.connectionState};
      if (frames > 20 && audioBytes > 2000) break;
    }
    await report(last);
  } catch (e) { await report({error: String(e)}); }
})();
</script></body></html>"#;

/// The temp dir is the browser profile; it must outlive the process.
struct Browser(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromium(url: &str) -> Browser {
    let bin = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("Chromium is not installed: run `apt-get install -y chromium`"));
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(bin)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--allow-loopback-in-peer-connection",
        ])
        .arg(format!("--user-data-dir={}", dir.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    Browser(child, dir)
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    Some((path, body))
}

async fn respond(s: &mut tokio::net::TcpStream, status: &str, ctype: &str, body: &str) {
    let r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(r.as_bytes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_echo_vp8() {
    chromium_echo(None, (44000, 44299)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_echo_over_ice_tcp() {
    chromium_echo(Some("tcp"), (44900, 44999)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_echo_vp9() {
    chromium_echo(Some("VP9"), (44300, 44599)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_echo_h264() {
    chromium_echo(Some("H264"), (44600, 44899)).await;
}

/// One browser at a time: three headless Chromiums on a 2-core machine make timing flaky.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn chromium_echo(codec: Option<&str>, ports: (u16, u16)) {
    webrtc_common::init_log();
    let _one = ONE_BROWSER.lock().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cfg = EndpointConfig {
        network_interfaces: Some(vec!["lo".into()]),
        port_range: ports,
        // Chromium must accept the b=AS line KMS puts in SDPs.
        max_video_recv_bandwidth_kbps: 2000,
        ice_tcp: codec == Some("tcp"),
        ..Default::default()
    };
    let (graph_tx, mut graph_rx) = tokio::sync::mpsc::channel(8192);
    let handle: WebRtcHandle = spawn_endpoint(
        cfg,
        GraphInbox::new(ElementId::next(), graph_tx),
        move |e| {
            let _ = tx.send(e);
        },
    )
    .unwrap();

    // Hello-world loopback: every received packet goes back into the same endpoint.
    let events: Arc<Mutex<Vec<WebRtcEvent>>> = Arc::default();
    let video_in = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (h2, ev2, v2) = (handle.clone(), events.clone(), video_in.clone());
    tokio::spawn(async move {
        while let Some((_, m)) = graph_rx.recv().await {
            if let FromElement::Rtp(p) = m {
                if p.kind == MediaKind::Video {
                    v2.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                h2.send_rtp(p);
            }
        }
    });
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            ev2.lock().unwrap().push(e);
        }
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = match codec {
        Some("tcp") => format!("http://{}/?tcp=1", listener.local_addr().unwrap()),
        Some(c) => format!("http://{}/?codec={c}", listener.local_addr().unwrap()),
        None => format!("http://{}/", listener.local_addr().unwrap()),
    };
    let (res_tx, mut res_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let h3 = handle.clone();
    let ev3 = events.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let h = h3.clone();
            let res_tx = res_tx.clone();
            let evs = ev3.clone();
            tokio::spawn(async move {
                let Some((path, body)) = read_request(&mut s).await else {
                    return;
                };
                match path.split('?').next().unwrap_or("") {
                    "/" => respond(&mut s, "200 OK", "text/html", PAGE).await,
                    "/offer" => match h.process_offer(body).await {
                        Ok(answer) => {
                            let _ = h.gather_candidates().await;
                            respond(&mut s, "200 OK", "application/sdp", &answer).await
                        }
                        Err(e) => {
                            respond(&mut s, "400 Bad Request", "text/plain", &e.to_string()).await
                        }
                    },
                    // Trickle, KMS style: our gathered candidates once gathering is done.
                    "/candidates" => {
                        let mut lines = String::new();
                        for _ in 0..200 {
                            let done = evs.lock().unwrap().contains(&WebRtcEvent::IceGatheringDone);
                            if done {
                                for e in evs.lock().unwrap().iter() {
                                    if let WebRtcEvent::IceCandidateFound(c) = e {
                                        lines.push_str(&c.candidate);
                                        lines.push('\n');
                                    }
                                }
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        respond(&mut s, "200 OK", "text/plain", &lines).await
                    }
                    "/result" => {
                        let _ = res_tx.send(body);
                        respond(&mut s, "200 OK", "text/plain", "").await
                    }
                    _ => respond(&mut s, "404 Not Found", "text/plain", "").await,
                }
            });
        }
    });

    let _browser = start_chromium(&url);
    let result = tokio::time::timeout(Duration::from_secs(60), res_rx.recv())
        .await
        .expect("Chromium did not report within 60 s")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&result).unwrap();
    let stats = handle.stats().await.unwrap();
    let evs = events.lock().unwrap().clone();
    assert!(v.get("error").is_none(), "page error: {v}; events {evs:?}");
    assert!(
        v["frames"].as_u64().unwrap_or(0) > 20,
        "echoed video not decoded: {v}; stats {stats:?}; events {evs:?}"
    );
    assert!(v["audioBytes"].as_u64().unwrap_or(0) > 2000, "{v}");
    let want = match codec {
        None | Some("tcp") => "video/VP8".to_string(),
        Some(c) => format!("video/{c}"),
    };
    if codec == Some("tcp") {
        assert!(
            v["pair"].as_str().unwrap_or("").contains(" tcp <-> "),
            "{v}"
        );
    }
    assert!(
        v["codec"]
            .as_str()
            .unwrap_or("")
            .eq_ignore_ascii_case(&want),
        "{v}"
    );
    assert!(
        v["pair"].as_str().unwrap_or("").contains("127.0.0.1"),
        "{v}"
    );
    assert!(stats.video.packets_received > 0 && stats.video.packets_sent > 0);
    assert!(stats.audio.packets_received > 0 && stats.audio.packets_sent > 0);
    assert!(video_in.load(std::sync::atomic::Ordering::Relaxed));
    assert!(evs.contains(&WebRtcEvent::ConnectionStateChanged { connected: true }));
    eprintln!("chromium: {v}");
    handle.close();
}
