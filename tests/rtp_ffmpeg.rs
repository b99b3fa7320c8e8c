//! The RTP adapter against a real RTP peer: ffmpeg on loopback, plain RTP and SDES-keyed SRTP.
//!
//! ffmpeg is required: these tests fail (never skip) without it, since an RTP endpoint that was
//! only ever tested against itself proves little.

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use kurento_media_server::media::{ElementId, FromElement, GraphInbox, MediaKind, RtpPacket};
use kurento_media_server::rtp::{
    spawn_rtp_endpoint, RtpConfig, RtpEvent, RtpHandle, SrtpCrypto, SrtpSuite,
};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

type GraphRx = mpsc::Receiver<(ElementId, FromElement)>;

fn ffmpeg() -> Command {
    let ok = std::process::Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "ffmpeg is required for this test (apt-get install ffmpeg, or ./test.sh installs it)"
    );
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// A free even port whose odd neighbour is free too (ffmpeg puts RTCP there).
fn free_pair() -> u16 {
    for _ in 0..200 {
        let Ok(a) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(p) = a.local_addr().map(|a| a.port()) else {
            continue;
        };
        if p % 2 == 0 && p < u16::MAX && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair on 127.0.0.1");
}

fn config(crypto: Option<SrtpCrypto>) -> RtpConfig {
    RtpConfig {
        bind: "127.0.0.1".parse().unwrap(),
        port_range: (0, 0),
        crypto,
        external_ipv4: None,
        mtu: 1200,
    }
}

fn endpoint(crypto: Option<SrtpCrypto>) -> (RtpHandle, GraphRx, mpsc::UnboundedReceiver<RtpEvent>) {
    let (tx, rx) = mpsc::channel(8192);
    let (etx, erx) = mpsc::unbounded_channel();
    let h = spawn_rtp_endpoint(
        config(crypto),
        GraphInbox::new(ElementId::next(), tx),
        move |e| {
            let _ = etx.send(e);
        },
    )
    .expect("spawn RTP endpoint");
    (h, rx, erx)
}

fn m_port(sdp: &str, media: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix(&format!("m={media} ")))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m={media} in {sdp}"))
}

/// Our endpoint offers; ffmpeg's side is described by a hand-written answer (ffmpeg cannot
/// answer), sent from a fixed local port so the answer's port is true.
async fn ffmpeg_sends_vp8_to(h: &RtpHandle, srtp: Option<&str>, seconds: u32) -> Child {
    let offer = h.generate_offer(false, true).await.expect("generate_offer");
    assert!(
        offer.contains(if srtp.is_some() {
            "RTP/SAVPF"
        } else {
            "RTP/AVPF"
        }),
        "{offer}"
    );
    let our_port = m_port(&offer, "video");
    let fport = free_pair();
    let (proto, crypto) = match srtp {
        Some(k) => (
            "RTP/SAVP",
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}\r\n"),
        ),
        None => ("RTP/AVP", String::new()),
    };
    let answer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {fport} {proto} 96\r\na=rtpmap:96 VP8/90000\r\n{crypto}a=sendonly\r\n"
    );
    h.process_answer(answer).await.expect("process_answer");
    let scheme = if srtp.is_some() { "srtp" } else { "rtp" };
    let url = format!(
        "{scheme}://127.0.0.1:{our_port}?localrtpport={fport}&localrtcpport={}&pkt_size=1200",
        fport + 1
    );
    let mut c = ffmpeg();
    c.args(["-re", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=30,format=yuv420p")
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"])
        .args(["-g", "30", "-auto-alt-ref", "0", "-b:v", "300k"])
        .args(["-payload_type", "96", "-ssrc", "4660"]);
    if let Some(k) = srtp {
        c.args([
            "-srtp_out_suite",
            "AES_CM_128_HMAC_SHA1_80",
            "-srtp_out_params",
            k,
        ]);
    }
    c.args(["-f", "rtp"]).arg(url);
    c.stdout(Stdio::null()).stderr(Stdio::inherit());
    c.spawn().expect("start ffmpeg")
}

#[derive(Default, Debug)]
struct Seen {
    packets: usize,
    markers: usize,
    keyframes: usize,
    transport_up: bool,
}

/// Reads the graph until enough VP8 arrived or the deadline passed; forwards to `to` if given.
async fn collect(
    rx: &mut GraphRx,
    to: Option<&RtpHandle>,
    until: impl Fn(&Seen) -> bool,
    max: Duration,
) -> Seen {
    collect_checked(rx, to, until, max, check_vp8).await
}

async fn collect_checked(
    rx: &mut GraphRx,
    to: Option<&RtpHandle>,
    until: impl Fn(&Seen) -> bool,
    max: Duration,
    check: fn(&RtpPacket),
) -> Seen {
    let mut seen = Seen::default();
    let deadline = Instant::now() + max;
    while !until(&seen) {
        let Ok(Some((_, m))) = timeout(
            deadline.saturating_duration_since(Instant::now()),
            rx.recv(),
        )
        .await
        else {
            break;
        };
        match m {
            FromElement::Rtp(p) => {
                check(&p);
                seen.packets += 1;
                seen.markers += usize::from(p.marker);
                seen.keyframes += usize::from(p.is_keyframe_hint);
                if let Some(b) = to {
                    b.send_rtp(p);
                }
            }
            FromElement::TransportUp => seen.transport_up = true,
            _ => {}
        }
    }
    seen
}

fn check_vp8(p: &RtpPacket) {
    assert_eq!(p.kind, MediaKind::Video);
    assert_eq!(&*p.codec.name, "VP8");
    assert_eq!(p.codec.clock_rate, 90000);
    assert_eq!(p.payload_type, 96);
    assert_eq!(p.ssrc, 4660);
    assert!(!p.payload.is_empty());
}

async fn expect_connected(erx: &mut mpsc::UnboundedReceiver<RtpEvent>) {
    let got = timeout(Duration::from_secs(5), async {
        while let Some(e) = erx.recv().await {
            if e == (RtpEvent::ConnectionStateChanged { connected: true }) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        got,
        Ok(true),
        "no ConnectionStateChanged{{connected: true}}"
    );
}

async fn receives_vp8(srtp: Option<&str>, crypto: Option<SrtpCrypto>) {
    let (a, mut rx, mut erx) = endpoint(crypto);
    let mut child = ffmpeg_sends_vp8_to(&a, srtp, 4).await;
    let seen = collect(
        &mut rx,
        None,
        |s| s.packets >= 60 && s.markers >= 20 && s.keyframes >= 1 && s.transport_up,
        Duration::from_secs(20),
    )
    .await;
    let _ = child.kill().await;
    assert!(seen.packets >= 60, "{seen:?}");
    assert!(seen.markers >= 20, "{seen:?}");
    assert!(seen.keyframes >= 1, "{seen:?}");
    assert!(seen.transport_up, "{seen:?}");
    expect_connected(&mut erx).await;
    let st = a.stats().await.expect("stats");
    assert!(st.connected);
    assert!(st.video.packets_received >= 60, "{st:?}");
    assert_eq!(st.video.ssrc_in, Some(4660));
    a.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_vp8_rtp_into_endpoint() {
    receives_vp8(None, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_vp8_srtp_into_endpoint() {
    // ffmpeg's key; ours is random and only used for what we send (RTCP here).
    let key = "Wpu9r3p5RbKsRu4b3FDTYMGFYB6e3TZDy3lHP3GO";
    receives_vp8(
        Some(key),
        Some(SrtpCrypto {
            suite: SrtpSuite::AesCm128HmacSha1_80,
            key: None,
        }),
    )
    .await;
}

/// ffmpeg -> endpoint A -> (the test, as the graph) -> endpoint B -> ffmpeg, which must decode.
async fn forwards_to_ffmpeg(srtp: bool) {
    let b_key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";
    let a_key = "Wpu9r3p5RbKsRu4b3FDTYMGFYB6e3TZDy3lHP3GO";
    let crypto = |k: &str| {
        srtp.then(|| SrtpCrypto {
            suite: SrtpSuite::AesCm128HmacSha1_80,
            key: Some(kurento_media_server::rtp::srtp::base64_decode(k).unwrap()),
        })
    };
    let (a, mut rx, _ea) = endpoint(crypto(a_key));
    let (b, _brx, mut eb) = endpoint(crypto(b_key));
    let dir = tempfile::tempdir().unwrap();
    let rport = free_pair();
    // What ffmpeg receives, as an offer to B: B answers sendonly and sends there. With SDES the
    // file's key must be B's (ffmpeg decrypts with it), so B is configured with that key.
    let (proto, cry) = if srtp {
        (
            "RTP/SAVP",
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{b_key}\r\n"),
        )
    } else {
        ("RTP/AVP", String::new())
    };
    let sdp = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {rport} {proto} 96\r\na=rtpmap:96 VP8/90000\r\n{cry}a=recvonly\r\n"
    );
    let answer = b.process_offer(sdp.clone()).await.expect("B process_offer");
    assert!(answer.contains("a=sendonly"), "{answer}");
    if srtp {
        assert!(answer.contains(&format!("inline:{b_key}")), "{answer}");
    }
    let file = dir.path().join("b.sdp");
    std::fs::write(&file, &sdp).unwrap();
    let mut recv = ffmpeg();
    recv.args([
        "-protocol_whitelist",
        "file,udp,rtp,srtp",
        "-reorder_queue_size",
        "64",
    ])
    .arg("-i")
    .arg(&file)
    .args(["-frames:v", "30", "-f", "framecrc", "-"])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let recv = recv.spawn().expect("start ffmpeg receiver");
    // Let the receiver bind its port before media flows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut send = ffmpeg_sends_vp8_to(&a, srtp.then_some(a_key), 12).await;
    let output = tokio::spawn(async move { recv.wait_with_output().await });
    let seen = collect(
        &mut rx,
        Some(&b),
        |_| output.is_finished(),
        Duration::from_secs(25),
    )
    .await;
    let _ = send.kill().await;
    assert!(seen.packets > 0, "nothing from ffmpeg into A: {seen:?}");
    let out = timeout(Duration::from_secs(5), output)
        .await
        .expect("ffmpeg receiver did not finish")
        .expect("join")
        .expect("ffmpeg receiver output");
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(
        frames, 30,
        "ffmpeg decoded {frames} frames (status {:?})",
        out.status
    );
    let st = b.stats().await.expect("stats");
    assert!(st.video.packets_sent > 0, "{st:?}");
    // B's RTCP port is our RTCP socket; the ffmpeg receiver's RR, if any, lands there.
    let _: SocketAddr = b.local_addrs(MediaKind::Video).1;
    while let Ok(e) = eb.try_recv() {
        assert!(!matches!(e, RtpEvent::CodecNotNegotiated { .. }), "{e:?}");
    }
    a.close();
    b.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_forwards_vp8_that_ffmpeg_decodes() {
    forwards_to_ffmpeg(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_forwards_vp8_over_srtp_that_ffmpeg_decodes() {
    forwards_to_ffmpeg(true).await;
}

/// ffmpeg encoding `input` with `codec` args, sending RTP from `from` (RTCP from `from + 1`) to
/// 127.0.0.1:`to`.
fn ffmpeg_sends(to: u16, from: u16, input: &[&str], codec: &[&str]) -> Child {
    let mut c = ffmpeg();
    c.arg("-re")
        .args(input)
        .args(codec)
        .args(["-ssrc", "4660", "-f", "rtp"])
        .arg(format!(
            "rtp://127.0.0.1:{to}?localrtpport={from}&localrtcpport={}&pkt_size=1200",
            from + 1
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c.spawn().expect("start ffmpeg")
}

fn check_pcmu(p: &RtpPacket) {
    assert_eq!(p.kind, MediaKind::Audio);
    assert_eq!((&*p.codec.name, p.codec.clock_rate), ("PCMU", 8000));
    assert_eq!(p.payload_type, 0);
    assert!(!p.is_keyframe_hint);
    // 20 ms of 8 kHz G.711 or ffmpeg's larger default frames: never empty.
    assert!(!p.payload.is_empty());
}

/// A phone behind a SIP gateway: PCMU/PCMA/telephone-event, no ICE, sendrecv; the answer keeps
/// what we can forward, and the RTP it then sends comes through as PCMU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_gateway_pcmu_offer_with_ffmpeg_as_the_phone() {
    let (h, mut rx, mut erx) = endpoint(None);
    let phone = free_pair();
    let offer = format!(
        "v=0\r\no=root 1 1 IN IP4 127.0.0.1\r\ns=Asterisk PBX\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {phone} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let answer = h.process_offer(offer).await.expect("process_offer");
    assert!(answer.contains(" RTP/AVP 0 8\r\n"), "{answer}");
    assert!(!answer.contains("telephone-event") && !answer.contains("rtcp-mux"));
    let port = m_port(&answer, "audio");
    let mut child = ffmpeg_sends(
        port,
        phone,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=8000",
            "-t",
            "3",
        ],
        &["-ac", "1", "-c:a", "pcm_mulaw", "-payload_type", "0"],
    );
    let seen = collect_checked(
        &mut rx,
        None,
        |s| s.packets >= 20 && s.transport_up,
        Duration::from_secs(15),
        check_pcmu,
    )
    .await;
    let _ = child.kill().await;
    assert!(seen.packets >= 20 && seen.transport_up, "{seen:?}");
    expect_connected(&mut erx).await;
    let st = h.stats().await.expect("stats");
    assert!(
        st.audio.packets_received >= 20 && !st.video.negotiated,
        "{st:?}"
    );
    h.close();
}

fn check_h264(p: &RtpPacket) {
    assert_eq!(p.kind, MediaKind::Video);
    assert_eq!((&*p.codec.name, p.codec.clock_rate), ("H264", 90000));
    assert_eq!(p.payload_type, 97);
    assert!(
        p.codec.fmtp.contains("packetization-mode=1"),
        "{:?}",
        p.codec
    );
}

/// H.264 (packetization-mode 1: FU-A and STAP-A) into an offer we generated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_h264_into_generated_offer() {
    let (h, mut rx, _e) = endpoint(None);
    let offer = h.generate_offer(false, true).await.expect("generate_offer");
    assert!(offer.contains("a=rtpmap:97 H264/90000"), "{offer}");
    let fport = free_pair();
    let answer = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {fport} RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n\
         a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\na=sendonly\r\n"
    );
    h.process_answer(answer).await.expect("process_answer");
    let mut child = ffmpeg_sends(
        m_port(&offer, "video"),
        fport,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-t",
            "4",
        ],
        &[
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-profile:v",
            "baseline",
            "-g",
            "30",
            "-b:v",
            "400k",
            "-payload_type",
            "97",
        ],
    );
    let seen = collect_checked(
        &mut rx,
        None,
        |s| s.packets >= 60 && s.markers >= 20 && s.keyframes >= 1,
        Duration::from_secs(20),
        check_h264,
    )
    .await;
    let _ = child.kill().await;
    assert!(seen.packets >= 60 && seen.markers >= 20, "{seen:?}");
    assert!(seen.keyframes >= 1, "no H.264 keyframe hint: {seen:?}");
    h.close();
}
