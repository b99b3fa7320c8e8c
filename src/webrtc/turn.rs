//! Sans-I/O TURN client (RFC 5766 / RFC 8656 subset) for one allocation.
//!
//! The actor owns the socket; this type only turns inputs (datagrams from the server, time)
//! into outputs (datagrams for the server, events). Covers: Allocate with long-term
//! credentials (401 → realm/nonce, 438 stale nonce), Refresh before expiry, CreatePermission
//! and ChannelBind per peer (and their refreshes), Send/Data indications and ChannelData in
//! both directions. Over TCP the same messages are self-delimiting; `TcpFramer` splits them.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::stun::{self, attr, method, Class, Message, MessageBuilder, TransactionId};

const UDP_RTO: Duration = Duration::from_millis(500);
const MAX_UDP_TRIES: u32 = 6;
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
const CHANNEL_REFRESH: Duration = Duration::from_secs(540);
const FIRST_CHANNEL: u16 = 0x4000;
const LAST_CHANNEL: u16 = 0x4FFF;
const REQUESTED_LIFETIME: u32 = 600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    Allocated {
        relay: SocketAddr,
        mapped: Option<SocketAddr>,
    },
    Failed(String),
}

#[derive(Debug)]
pub enum TurnInput<'a> {
    /// Not a TURN message for this client; the caller should treat it as ordinary traffic.
    NotTurn,
    /// A control message that was consumed (response, or something ignorable).
    Handled,
    /// Application data relayed from `peer`.
    Data(SocketAddr, &'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Allocate,
    Refresh(u32),
    CreatePermission(IpAddr),
    ChannelBind(u16, SocketAddr),
}

struct Pending {
    kind: ReqKind,
    msg: Vec<u8>,
    deadline: Instant,
    tries: u32,
    /// Whether this request already went through one 401/438 credential retry.
    auth_retried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated,
    Failed,
    Closed,
}

struct Channel {
    number: u16,
    bound: bool,
    refresh_at: Option<Instant>,
}

pub struct TurnClient {
    server: SocketAddr,
    tcp: bool,
    username: String,
    password: String,
    realm: Option<String>,
    nonce: Option<String>,
    key: Option<Vec<u8>>,
    state: State,
    relay: Option<SocketAddr>,
    refresh_at: Option<Instant>,
    pending: HashMap<TransactionId, Pending>,
    /// IP → time the permission must be refreshed (None while the request is in flight).
    permissions: HashMap<IpAddr, Option<Instant>>,
    channels: HashMap<SocketAddr, Channel>,
    channel_peers: HashMap<u16, SocketAddr>,
    next_channel: u16,
    waiting_peers: Vec<SocketAddr>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
}

impl TurnClient {
    pub fn new(server: SocketAddr, username: String, password: String, tcp: bool) -> Self {
        TurnClient {
            server,
            tcp,
            username,
            password,
            realm: None,
            nonce: None,
            key: None,
            state: State::Idle,
            relay: None,
            refresh_at: None,
            pending: HashMap::new(),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_peers: HashMap::new(),
            next_channel: FIRST_CHANNEL,
            waiting_peers: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub fn relay_addr(&self) -> Option<SocketAddr> {
        self.relay
    }

    pub fn is_done_gathering(&self) -> bool {
        matches!(self.state, State::Allocated | State::Failed | State::Closed)
    }

    pub fn start(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.state = State::Allocating;
            self.request(now, ReqKind::Allocate, false);
        }
    }

    /// Deallocates (Refresh with lifetime 0); the server may not answer, and we do not wait.
    pub fn close(&mut self, now: Instant) {
        if self.state == State::Allocated {
            self.request(now, ReqKind::Refresh(0), false);
        }
        self.state = State::Closed;
    }

    /// Makes sure `peer` may send to us through the relay (permission) and that we can use
    /// the cheaper ChannelData framing towards it.
    pub fn add_peer(&mut self, now: Instant, peer: SocketAddr) {
        if peer.is_ipv4() != self.server.is_ipv4() {
            return;
        }
        match self.state {
            State::Idle | State::Allocating => {
                if !self.waiting_peers.contains(&peer) {
                    self.waiting_peers.push(peer);
                }
            }
            State::Allocated => {
                if let std::collections::hash_map::Entry::Vacant(e) =
                    self.permissions.entry(peer.ip())
                {
                    e.insert(None);
                    self.request(now, ReqKind::CreatePermission(peer.ip()), false);
                }
                if !self.channels.contains_key(&peer) && self.next_channel <= LAST_CHANNEL {
                    let number = self.next_channel;
                    self.next_channel += 1;
                    self.channels.insert(
                        peer,
                        Channel {
                            number,
                            bound: false,
                            refresh_at: None,
                        },
                    );
                    self.channel_peers.insert(number, peer);
                    self.request(now, ReqKind::ChannelBind(number, peer), false);
                }
            }
            State::Failed | State::Closed => {}
        }
    }

    /// Wraps `data` for `peer`: ChannelData when the channel is bound, else a Send indication.
    pub fn wrap(&self, peer: SocketAddr, data: &[u8]) -> Option<Vec<u8>> {
        if self.state != State::Allocated {
            return None;
        }
        if let Some(ch) = self.channels.get(&peer).filter(|c| c.bound) {
            let len = data.len().min(u16::MAX as usize);
            let mut v = Vec::with_capacity(4 + len + 3);
            v.extend_from_slice(&ch.number.to_be_bytes());
            v.extend_from_slice(&(len as u16).to_be_bytes());
            v.extend_from_slice(&data[..len]);
            if self.tcp {
                // RFC 5766 §11.5: over stream transports ChannelData is padded to 4 bytes.
                v.extend(std::iter::repeat_n(0u8, (4 - len % 4) % 4));
            }
            return Some(v);
        }
        let msg = MessageBuilder::new(method::SEND, Class::Indication, stun::new_transaction_id())
            .xor_addr(attr::XOR_PEER_ADDRESS, peer)
            .attr(attr::DATA, data)
            .build(None, false);
        Some(msg)
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.refresh_at;
        let mut take = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for p in self.pending.values() {
            take(Some(p.deadline));
        }
        for r in self.permissions.values() {
            take(*r);
        }
        for c in self.channels.values() {
            take(c.refresh_at);
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        // Retransmissions / request timeouts.
        let expired: Vec<TransactionId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for tid in expired {
            let Some(mut p) = self.pending.remove(&tid) else {
                continue;
            };
            if !self.tcp && p.tries < MAX_UDP_TRIES {
                p.tries += 1;
                p.deadline = now + UDP_RTO * 2u32.pow(p.tries.min(4) - 1);
                self.out.push_back(p.msg.clone());
                self.pending.insert(tid, p);
            } else {
                self.on_request_failed(p.kind, "timeout".to_string());
            }
        }
        if self.state != State::Allocated {
            return;
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            self.request(now, ReqKind::Refresh(REQUESTED_LIFETIME), false);
        }
        let perms: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(_, r)| r.is_some_and(|t| t <= now))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in perms {
            self.permissions.insert(ip, None);
            self.request(now, ReqKind::CreatePermission(ip), false);
        }
        let chans: Vec<(u16, SocketAddr)> = self
            .channels
            .iter()
            .filter(|(_, c)| c.refresh_at.is_some_and(|t| t <= now))
            .map(|(p, c)| (c.number, *p))
            .collect();
        for (n, peer) in chans {
            if let Some(c) = self.channels.get_mut(&peer) {
                c.refresh_at = None;
            }
            self.request(now, ReqKind::ChannelBind(n, peer), false);
        }
    }

    /// Feeds one datagram (UDP) or one framed message (TCP) that came from the server.
    pub fn handle_input<'a>(&mut self, now: Instant, data: &'a [u8]) -> TurnInput<'a> {
        if data.len() >= 4 && (0x40..=0x7F).contains(&data[0]) {
            let number = u16::from_be_bytes([data[0], data[1]]);
            let len = u16::from_be_bytes([data[2], data[3]]) as usize;
            let Some(peer) = self.channel_peers.get(&number) else {
                return TurnInput::Handled;
            };
            if data.len() < 4 + len {
                return TurnInput::Handled;
            }
            return TurnInput::Data(*peer, &data[4..4 + len]);
        }
        let Some(msg) = Message::parse(data) else {
            return TurnInput::NotTurn;
        };
        if msg.method == method::DATA && msg.class == Class::Indication {
            return match (msg.xor_addr(attr::XOR_PEER_ADDRESS), msg.get(attr::DATA)) {
                (Some(peer), Some(d)) => TurnInput::Data(peer, d),
                _ => TurnInput::Handled,
            };
        }
        if !matches!(msg.class, Class::Success | Class::Error) {
            return TurnInput::NotTurn;
        }
        let Some(p) = self.pending.remove(&msg.tid) else {
            return TurnInput::NotTurn;
        };
        // Responses to authenticated requests must carry a valid integrity, otherwise an
        // off-path attacker could forge an allocation result.
        if let Some(key) = &self.key {
            if msg.get(attr::MESSAGE_INTEGRITY).is_some() && !msg.verify_integrity(key) {
                tracing::debug!("TURN response with bad MESSAGE-INTEGRITY ignored");
                self.pending.insert(msg.tid, p);
                return TurnInput::Handled;
            }
        }
        if msg.class == Class::Success {
            self.on_success(now, p.kind, &msg);
        } else {
            let (code, reason) = msg.error_code().unwrap_or((0, String::new()));
            let realm = msg.string_attr(attr::REALM);
            let nonce = msg.string_attr(attr::NONCE);
            if (code == 401 || code == 438) && !p.auth_retried && nonce.is_some() {
                if let Some(r) = realm {
                    self.key = Some(stun::long_term_key(&self.username, &r, &self.password));
                    self.realm = Some(r);
                }
                self.nonce = nonce;
                if self.key.is_some() {
                    self.request(now, p.kind, true);
                    return TurnInput::Handled;
                }
            }
            self.on_request_failed(p.kind, format!("error {code} {reason}"));
        }
        TurnInput::Handled
    }

    fn on_success(&mut self, now: Instant, kind: ReqKind, msg: &Message<'_>) {
        match kind {
            ReqKind::Allocate => {
                let Some(relay) = msg.xor_addr(attr::XOR_RELAYED_ADDRESS) else {
                    self.fail("allocate success without XOR-RELAYED-ADDRESS".into());
                    return;
                };
                let lifetime = msg.u32_attr(attr::LIFETIME).unwrap_or(REQUESTED_LIFETIME);
                self.relay = Some(relay);
                self.state = State::Allocated;
                self.refresh_at = Some(now + refresh_delay(lifetime));
                self.events.push_back(TurnEvent::Allocated {
                    relay,
                    mapped: msg.mapped_addr(),
                });
                for peer in std::mem::take(&mut self.waiting_peers) {
                    self.add_peer(now, peer);
                }
            }
            ReqKind::Refresh(0) => {}
            ReqKind::Refresh(_) => {
                let lifetime = msg.u32_attr(attr::LIFETIME).unwrap_or(REQUESTED_LIFETIME);
                self.refresh_at = Some(now + refresh_delay(lifetime));
            }
            ReqKind::CreatePermission(ip) => {
                self.permissions.insert(ip, Some(now + PERMISSION_REFRESH));
            }
            ReqKind::ChannelBind(_, peer) => {
                if let Some(c) = self.channels.get_mut(&peer) {
                    c.bound = true;
                    c.refresh_at = Some(now + CHANNEL_REFRESH);
                }
            }
        }
    }

    fn on_request_failed(&mut self, kind: ReqKind, why: String) {
        match kind {
            ReqKind::Allocate => self.fail(format!("allocate failed: {why}")),
            ReqKind::Refresh(0) => {}
            ReqKind::Refresh(_) => self.fail(format!("refresh failed: {why}")),
            ReqKind::CreatePermission(ip) => {
                tracing::warn!("TURN CreatePermission for {ip} failed: {why}");
                self.permissions.remove(&ip);
            }
            ReqKind::ChannelBind(n, peer) => {
                // Send indications keep working without the channel.
                tracing::warn!("TURN ChannelBind {n:#x} for {peer} failed: {why}");
            }
        }
    }

    fn fail(&mut self, why: String) {
        tracing::warn!("TURN {}: {why}", self.server);
        self.state = State::Failed;
        self.relay = None;
        self.refresh_at = None;
        self.pending.clear();
        self.events.push_back(TurnEvent::Failed(why));
    }

    fn request(&mut self, now: Instant, kind: ReqKind, auth_retried: bool) {
        let tid = stun::new_transaction_id();
        let m = match kind {
            ReqKind::Allocate => MessageBuilder::new(method::ALLOCATE, Class::Request, tid)
                // 17 = UDP: the relayed transport towards peers is always UDP.
                .attr(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0])
                .u32_attr(attr::LIFETIME, REQUESTED_LIFETIME),
            ReqKind::Refresh(l) => MessageBuilder::new(method::REFRESH, Class::Request, tid)
                .u32_attr(attr::LIFETIME, l),
            ReqKind::CreatePermission(ip) => {
                MessageBuilder::new(method::CREATE_PERMISSION, Class::Request, tid)
                    .xor_addr(attr::XOR_PEER_ADDRESS, SocketAddr::new(ip, 0))
            }
            ReqKind::ChannelBind(n, peer) => {
                MessageBuilder::new(method::CHANNEL_BIND, Class::Request, tid)
                    .attr(attr::CHANNEL_NUMBER, &[(n >> 8) as u8, n as u8, 0, 0])
                    .xor_addr(attr::XOR_PEER_ADDRESS, peer)
            }
        };
        let msg = match (&self.key, &self.realm, &self.nonce) {
            (Some(key), Some(realm), Some(nonce)) => m
                .attr(attr::USERNAME, self.username.as_bytes())
                .attr(attr::REALM, realm.as_bytes())
                .attr(attr::NONCE, nonce.as_bytes())
                .build(Some(key), true),
            _ => m.build(None, true),
        };
        let deadline = now + if self.tcp { TCP_TIMEOUT } else { UDP_RTO };
        self.out.push_back(msg.clone());
        self.pending.insert(
            tid,
            Pending {
                kind,
                msg,
                deadline,
                tries: 1,
                auth_retried,
            },
        );
    }
}

fn refresh_delay(lifetime: u32) -> Duration {
    // Refresh a minute early, or at half the lifetime for very short allocations.
    let l = lifetime as u64;
    Duration::from_secs(if l > 120 { l - 60 } else { (l / 2).max(1) })
}

/// The TCP stream from the TURN server carried bytes that are neither STUN nor ChannelData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unframeable;

/// Splits a TCP byte stream from a TURN server into STUN messages and ChannelData frames.
#[derive(Default)]
pub struct TcpFramer {
    buf: Vec<u8>,
}

impl TcpFramer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete frame, or None if more bytes are needed. Garbage that is neither STUN
    /// nor ChannelData cannot be resynchronised, so the stream is reported as broken (Err).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, Unframeable> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = if self.buf[0] & 0xC0 == 0 {
            stun::framed_len(&self.buf).ok_or(Unframeable)?
        } else if (0x40..=0x7F).contains(&self.buf[0]) {
            let l = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
            4 + l + (4 - l % 4) % 4
        } else {
            return Err(Unframeable);
        };
        if self.buf.len() < len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..len).collect();
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(
        req: &[u8],
        class: Class,
        f: impl FnOnce(MessageBuilder) -> MessageBuilder,
        key: Option<&[u8]>,
    ) -> Vec<u8> {
        let m = Message::parse(req).unwrap();
        f(MessageBuilder::new(m.method, class, m.tid)).build(key, true)
    }

    #[test]
    fn allocate_with_auth_then_permission_channel_and_data() {
        let now = Instant::now();
        let server: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        let relay: SocketAddr = "127.0.0.1:49200".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut c = TurnClient::new(server, "test".into(), "test123".into(), false);
        c.add_peer(now, peer); // before allocation: remembered
        c.start(now);
        let req = c.poll_transmit().unwrap();
        assert!(c.poll_transmit().is_none());
        let m = Message::parse(&req).unwrap();
        assert_eq!((m.method, m.class), (method::ALLOCATE, Class::Request));
        assert!(m.get(attr::MESSAGE_INTEGRITY).is_none());

        // 401 with realm + nonce.
        let r401 = response(
            &req,
            Class::Error,
            |b| {
                b.attr(attr::ERROR_CODE, &[0, 0, 4, 1])
                    .attr(attr::REALM, b"kms.test")
                    .attr(attr::NONCE, b"abcd")
            },
            None,
        );
        assert!(matches!(c.handle_input(now, &r401), TurnInput::Handled));
        let req2 = c.poll_transmit().unwrap();
        let m2 = Message::parse(&req2).unwrap();
        let key = stun::long_term_key("test", "kms.test", "test123");
        assert!(m2.verify_integrity(&key));
        assert_eq!(m2.string_attr(attr::NONCE).as_deref(), Some("abcd"));

        let ok = response(
            &req2,
            Class::Success,
            |b| {
                b.xor_addr(attr::XOR_RELAYED_ADDRESS, relay)
                    .xor_addr(attr::XOR_MAPPED_ADDRESS, "127.0.0.1:40000".parse().unwrap())
                    .u32_attr(attr::LIFETIME, 600)
            },
            Some(&key),
        );
        c.handle_input(now, &ok);
        assert_eq!(
            c.poll_event(),
            Some(TurnEvent::Allocated {
                relay,
                mapped: Some("127.0.0.1:40000".parse().unwrap())
            })
        );
        // The remembered peer now gets CreatePermission + ChannelBind.
        let perm = c.poll_transmit().unwrap();
        let bind = c.poll_transmit().unwrap();
        let pm = Message::parse(&perm).unwrap();
        assert_eq!(pm.method, method::CREATE_PERMISSION);
        assert_eq!(pm.xor_addr(attr::XOR_PEER_ADDRESS).unwrap().ip(), peer.ip());
        let bm = Message::parse(&bind).unwrap();
        assert_eq!(bm.method, method::CHANNEL_BIND);

        // Before the channel is bound, data goes out as a Send indication.
        let send = c.wrap(peer, b"hello").unwrap();
        let sm = Message::parse(&send).unwrap();
        assert_eq!((sm.method, sm.class), (method::SEND, Class::Indication));
        assert_eq!(sm.get(attr::DATA), Some(&b"hello"[..]));

        c.handle_input(now, &response(&perm, Class::Success, |b| b, Some(&key)));
        c.handle_input(now, &response(&bind, Class::Success, |b| b, Some(&key)));
        let cd = c.wrap(peer, b"hello").unwrap();
        assert_eq!(&cd[..2], &[0x40, 0x00]);
        assert_eq!(&cd[4..], b"hello");

        // Inbound ChannelData and Data indications.
        match c.handle_input(now, &cd) {
            TurnInput::Data(p, d) => {
                assert_eq!(p, peer);
                assert_eq!(d, b"hello");
            }
            other => panic!("{other:?}"),
        }
        let ind = MessageBuilder::new(method::DATA, Class::Indication, stun::new_transaction_id())
            .xor_addr(attr::XOR_PEER_ADDRESS, peer)
            .attr(attr::DATA, b"xyz")
            .build(None, false);
        assert!(matches!(c.handle_input(now, &ind), TurnInput::Data(p, b"xyz") if p == peer));

        // Refresh is scheduled before the 600 s lifetime runs out.
        let t = c.poll_timeout().unwrap();
        assert!(t <= now + Duration::from_secs(540));
        c.handle_timeout(now + Duration::from_secs(541));
        let kinds: Vec<u16> = std::iter::from_fn(|| c.poll_transmit())
            .map(|m| Message::parse(&m).unwrap().method)
            .collect();
        assert!(kinds.contains(&method::REFRESH), "{kinds:?}");
        assert!(kinds.contains(&method::CREATE_PERMISSION), "{kinds:?}");
        assert!(kinds.contains(&method::CHANNEL_BIND), "{kinds:?}");
    }

    #[test]
    fn allocate_fails_after_retransmissions_and_on_error() {
        let now = Instant::now();
        let server: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        let mut c = TurnClient::new(server, "u".into(), "p".into(), false);
        c.start(now);
        let mut t = now;
        let mut sent = 0;
        while c.poll_transmit().is_some() {
            sent += 1;
            t = c.poll_timeout().unwrap();
            c.handle_timeout(t);
        }
        assert_eq!(sent, MAX_UDP_TRIES as usize);
        assert!(t < now + Duration::from_secs(60));
        assert!(matches!(c.poll_event(), Some(TurnEvent::Failed(_))));

        let mut c = TurnClient::new(server, "u".into(), "p".into(), false);
        c.start(now);
        let req = c.poll_transmit().unwrap();
        let r = response(
            &req,
            Class::Error,
            |b| {
                b.attr(attr::ERROR_CODE, &[0, 0, 4, 1])
                    .attr(attr::REALM, b"r")
                    .attr(attr::NONCE, b"n")
            },
            None,
        );
        c.handle_input(now, &r);
        let req2 = c.poll_transmit().unwrap();
        // A second 401 (wrong password) is final.
        let r2 = response(
            &req2,
            Class::Error,
            |b| {
                b.attr(attr::ERROR_CODE, &[0, 0, 4, 1])
                    .attr(attr::REALM, b"r")
                    .attr(attr::NONCE, b"n2")
            },
            None,
        );
        c.handle_input(now, &r2);
        assert!(matches!(c.poll_event(), Some(TurnEvent::Failed(_))));
    }

    #[test]
    fn tcp_framer_splits_and_rejects_garbage() {
        let mut f = TcpFramer::default();
        let msg = MessageBuilder::new(method::BINDING, Class::Request, [1; 12]).build(None, true);
        let cd = [0x40u8, 0x01, 0x00, 0x03, 1, 2, 3, 0];
        let mut stream = msg.clone();
        stream.extend_from_slice(&cd);
        for b in stream.chunks(3) {
            f.push(b);
        }
        assert_eq!(f.next_frame().unwrap().unwrap(), msg);
        assert_eq!(f.next_frame().unwrap().unwrap(), cd.to_vec());
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(&[0xff, 0, 0, 0]);
        assert!(f.next_frame().is_err());
    }
}
