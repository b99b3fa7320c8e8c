//! The RTP adapter's parsers of untrusted input (`src/rtp`), without sockets: SDP offers and
//! answers from the remote peer (RtpEndpoint.processOffer / processAnswer), SDES `a=crypto:`
//! values, and datagrams arriving on a negotiated session's RTP and RTCP ports.
//!
//! Byte 0 selects: `& 3` = 0 offer, 1 answer to our offer, 2 SDES value, 3 datagram; bit 2 turns
//! SDES-keyed SRTP on. The rest is the input.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kurento_media_server::media::MediaKind;
use kurento_media_server::rtp::sdp::{self, LocalParams};
use kurento_media_server::rtp::session::{Component, Session};
use kurento_media_server::rtp::srtp::{self, SrtpContext};
use kurento_media_server::rtp::{rtcp, SrtpCrypto, SrtpSuite};

fn local() -> LocalParams {
    LocalParams {
        addr: std::net::Ipv4Addr::LOCALHOST.into(),
        ports: [40000, 40002],
        crypto: None,
        session_id: 1,
        version: 0,
    }
}

fn session(secure: bool) -> Session {
    let crypto = secure.then_some(SrtpCrypto {
        suite: SrtpSuite::AesCm128HmacSha1_80,
        key: Some(vec![7; 30]),
    });
    Session::new(local(), crypto, Instant::now())
}

fn drain(s: &mut Session) {
    while s.poll_output().is_some() {}
}

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let secure = sel & 4 != 0;
    let text = std::str::from_utf8(rest).ok();
    let now = Instant::now();
    match sel & 3 {
        0 => {
            let Some(t) = text else { return };
            let mut s = session(secure);
            if let Ok(answer) = s.process_offer(t, now) {
                // One answer m-line per offered one, and the answer is SDP we can read back.
                let offered = sdp::parse(t).map(|p| p.media.len()).unwrap_or(usize::MAX);
                let back = sdp::parse(&answer)
                    .unwrap_or_else(|e| panic!("our answer does not parse ({e}): {answer:?}"));
                assert_eq!(back.media.len(), offered, "{answer:?}");
                s.handle_timeout(now + Duration::from_secs(2));
                s.request_keyframe(MediaKind::Video);
                s.limit_video_bitrate(100_000);
                s.close();
                drain(&mut s);
            }
        }
        1 => {
            let Some(t) = text else { return };
            let mut s = session(secure);
            if s.generate_offer(sel & 8 == 0, sel & 16 == 0).is_ok() {
                let _ = s.process_answer(t, now);
                s.handle_timeout(now + Duration::from_secs(2));
                drain(&mut s);
            }
            let _ = s.stats();
        }
        2 => {
            let Some(t) = text else { return };
            if let Some(c) = srtp::parse_crypto(t) {
                if let Some(suite) = c.suite {
                    assert!(
                        SrtpContext::new(suite, &c.key).is_ok(),
                        "a key accepted by the parser was refused by SRTP"
                    );
                    let again = srtp::format_crypto(c.tag, suite, &c.key);
                    let back = srtp::parse_crypto(&again).map(|b| b.key);
                    assert_eq!(back.as_ref(), Some(&c.key), "{again}");
                }
            }
        }
        _ => {
            let parsed = rtcp::parse(rest);
            let mut buf = Vec::new();
            for p in &parsed {
                rtcp::write(&mut buf, p);
            }
            assert_eq!(
                rtcp::parse(&buf).len(),
                parsed.len(),
                "RTCP re-serialisation"
            );
            // A negotiated session (offer from a peer that sends everything) takes the
            // datagram on every port.
            let mut s = session(secure);
            let proto = if secure { "RTP/SAVPF" } else { "RTP/AVPF" };
            let cry = if secure {
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
            } else {
                ""
            };
            let offer = format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 5000 {proto} 0 111\r\na=rtpmap:111 opus/48000/2\r\n{cry}\
                 m=video 5002 {proto} 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 H264/90000\r\n\
                 a=fmtp:97 packetization-mode=1\r\na=rtcp-fb:* nack\r\na=rtcp-fb:* nack pli\r\n\
                 a=rtcp-fb:* goog-remb\r\na=rtcp-mux\r\n{cry}"
            );
            if s.process_offer(&offer, now).is_err() {
                panic!("the harness's own offer was refused");
            }
            let src: SocketAddr = ([127, 0, 0, 1], 5002).into();
            for kind in [MediaKind::Audio, MediaKind::Video] {
                for rtcp in [false, true] {
                    s.handle_input(now, Component { kind, rtcp }, src, rest);
                }
            }
            drain(&mut s);
        }
    }
}
