//! The WebRTC adapter's own STUN codec and TURN client (`src/webrtc/stun.rs`, `turn.rs`): what a
//! STUN or TURN server (or anyone who can send us a datagram) controls.
//!
//! Byte 0 picks the mode:
//! - 0: `Message::parse` of the rest, then every accessor.
//! - 1: a TURN client conversation: the client starts an allocation and the input supplies the
//!   server's datagrams. Transaction ids are random, so a datagram that looks like STUN gets the id
//!   of a request the client really sent (chosen by the input), letting responses reach the state
//!   machine; timers, peers and outgoing wraps are interleaved.
//! - 2: builder round trip: attributes built with `MessageBuilder` must parse back unchanged.
//! - 3: TURN URL parsers (`turnURL` of WebRtcEndpoint.conf.ini and the adapter's own).

use super::bytes::Bytes;
use kurento_media_server::config::TurnUrl;
use kurento_media_server::webrtc::stun::{self, attr, method, Class, Message, MessageBuilder};
use kurento_media_server::webrtc::turn::{TurnClient, TurnInput};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 4 {
        0 => parse_all(rest),
        1 => turn_conversation(rest),
        2 => builder_round_trip(rest),
        _ => turn_urls(rest),
    }
}

const ATTRS: &[u16] = &[
    attr::MAPPED_ADDRESS,
    attr::USERNAME,
    attr::MESSAGE_INTEGRITY,
    attr::ERROR_CODE,
    attr::CHANNEL_NUMBER,
    attr::LIFETIME,
    attr::XOR_PEER_ADDRESS,
    attr::DATA,
    attr::REALM,
    attr::NONCE,
    attr::XOR_RELAYED_ADDRESS,
    attr::REQUESTED_TRANSPORT,
    attr::XOR_MAPPED_ADDRESS,
    attr::SOFTWARE,
    attr::FINGERPRINT,
];

fn parse_all(buf: &[u8]) {
    let _ = stun::is_stun(buf);
    let _ = stun::framed_len(buf);
    let Some(msg) = Message::parse(buf) else {
        return;
    };
    for &a in ATTRS {
        let _ = msg.get(a);
        let _ = msg.xor_addr(a);
        let _ = msg.u32_attr(a);
        let _ = msg.string_attr(a);
    }
    let _ = msg.mapped_addr();
    let _ = msg.error_code();
    let key = stun::long_term_key("user", "realm", "pass");
    let _ = msg.verify_integrity(&key);
    let _ = msg.verify_integrity(b"");
}

fn addr(b: &mut Bytes<'_>, v6: bool) -> SocketAddr {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(
            (u128::from(b.u64()) << 64) | u128::from(b.u64()),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(b.u32()))
    };
    SocketAddr::new(ip, b.u16())
}

fn turn_conversation(data: &[u8]) {
    let mut b = Bytes::new(data);
    let v6 = b.bool();
    let tcp = b.bool();
    let server = if v6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 3478)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3478)
    };
    let mut client = TurnClient::new(server, "user".into(), "pass".into(), tcp);
    let t0 = Instant::now();
    let mut now = t0;
    client.start(now);
    // Transaction ids of the requests the client sent, newest last.
    let mut sent: Vec<[u8; 12]> = Vec::new();
    let mut steps = 0;
    while !b.is_empty() && steps < 64 {
        steps += 1;
        drain(&mut client, &mut sent);
        match b.u8() % 8 {
            0..=3 => {
                let mut dgram = b.slice(1500).to_vec();
                let patch = b.u8();
                if dgram.len() >= 20 && patch & 1 == 1 && !sent.is_empty() {
                    let i = (patch as usize >> 1) % sent.len();
                    let tid = sent[sent.len() - 1 - i];
                    dgram[8..20].copy_from_slice(&tid);
                    // Make it STUN-shaped too, so it is not dropped before the id matters.
                    dgram[0] &= 0x3F;
                    dgram[4..8].copy_from_slice(&stun::MAGIC_COOKIE.to_be_bytes());
                }
                match client.handle_input(now, &dgram) {
                    TurnInput::Data(peer, payload) => {
                        let _ = (peer, payload.len());
                    }
                    TurnInput::Handled | TurnInput::NotTurn => {}
                }
            }
            4 => {
                let v6peer = b.bool();
                let peer = addr(&mut b, v6peer);
                client.add_peer(now, peer);
            }
            5 => {
                let peer = addr(&mut b, v6);
                let payload = b.slice(200);
                if let Some(w) = client.wrap(peer, payload) {
                    // Whatever we send must be ChannelData or a STUN message we can read back.
                    assert!(
                        (0x40..=0x7F).contains(&w[0]) || Message::parse(&w).is_some(),
                        "wrap produced an unreadable message"
                    );
                }
            }
            6 => {
                let step = Duration::from_millis(u64::from(b.u32() % 1_000_000));
                now = now.checked_add(step).unwrap_or(now);
                if b.bool() {
                    if let Some(t) = client.poll_timeout() {
                        now = now.max(t);
                    }
                }
                client.handle_timeout(now);
            }
            _ => {
                let _ = client.relay_addr();
                let _ = client.is_done_gathering();
                if b.u8() == 0 {
                    client.close(now);
                }
            }
        }
    }
    drain(&mut client, &mut sent);
}

fn drain(client: &mut TurnClient, sent: &mut Vec<[u8; 12]>) {
    while let Some(out) = client.poll_transmit() {
        let msg = Message::parse(&out)
            .unwrap_or_else(|| panic!("TURN client sent unparsable STUN: {out:02x?}"));
        sent.push(msg.tid);
        if sent.len() > 64 {
            sent.remove(0);
        }
    }
    while client.poll_event().is_some() {}
}

fn builder_round_trip(data: &[u8]) {
    let mut b = Bytes::new(data);
    let methods = [
        method::BINDING,
        method::ALLOCATE,
        method::REFRESH,
        method::SEND,
        method::DATA,
        method::CREATE_PERMISSION,
        method::CHANNEL_BIND,
    ];
    let classes = [
        Class::Request,
        Class::Indication,
        Class::Success,
        Class::Error,
    ];
    let m = *b.pick(&methods).unwrap_or(&method::BINDING);
    let class = *b.pick(&classes).unwrap_or(&Class::Request);
    let mut tid = [0u8; 12];
    for x in &mut tid {
        *x = b.u8();
    }
    let mut builder = MessageBuilder::new(m, class, tid);
    let mut plain: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut addrs: Vec<(u16, SocketAddr)> = Vec::new();
    for _ in 0..b.below(6) {
        // Integrity/fingerprint are added by build(); addresses are checked separately.
        let typ = match b.u8() % 4 {
            0 => attr::USERNAME,
            1 => attr::DATA,
            2 => attr::SOFTWARE,
            _ => 0xC000 | b.u16() & 0x0FFF,
        };
        if b.bool() {
            let v6a = b.bool();
            let a = addr(&mut b, v6a);
            let typ = if b.bool() {
                attr::XOR_PEER_ADDRESS
            } else {
                attr::XOR_MAPPED_ADDRESS
            };
            builder = builder.xor_addr(typ, a);
            addrs.push((typ, a));
        } else {
            let v = b.slice(300).to_vec();
            builder = builder.attr(typ, &v);
            plain.push((typ, v));
        }
    }
    let key = if b.bool() {
        Some(stun::long_term_key("u", "r", "p"))
    } else {
        None
    };
    let fingerprint = b.bool();
    let wire = builder.build(key.as_deref(), fingerprint);
    let msg = Message::parse(&wire).unwrap_or_else(|| panic!("built message does not parse"));
    assert_eq!(msg.method, m);
    assert_eq!(msg.class, class);
    assert_eq!(msg.tid, tid);
    // `get` returns the first attribute of a type, so compare against the first one we added.
    for (typ, v) in &plain {
        let first = plain.iter().find(|(t, _)| t == typ).map(|(_, v)| v);
        if addrs.iter().all(|(t, _)| t != typ) {
            assert_eq!(
                msg.get(*typ),
                first.map(Vec::as_slice),
                "attr {typ:#x} {v:02x?}"
            );
        }
    }
    for (typ, a) in &addrs {
        if addrs.iter().find(|(t, _)| t == typ).map(|(_, a)| a) == Some(a) {
            assert_eq!(msg.xor_addr(*typ), Some(*a), "xor addr {typ:#x}");
        }
    }
    if let Some(k) = &key {
        assert!(
            msg.verify_integrity(k),
            "own MESSAGE-INTEGRITY does not verify"
        );
    }
}

fn turn_urls(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = s.parse::<TurnUrl>() {
        let _ = t.socket_addr();
        let _ = t.redacted().to_string();
    }
    let _ = kurento_media_server::setup::turn_server(s);
}
