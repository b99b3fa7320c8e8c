//! Minimal STUN message codec (RFC 5389 / RFC 8489) with the TURN attributes of RFC 5766.
//!
//! str0m does ICE connectivity checks itself; this codec only serves our own STUN binding
//! client (server-reflexive candidates) and the TURN client in `turn.rs`. Parsing never panics:
//! every length is checked against the buffer before it is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use aws_lc_rs::hmac;

pub const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

pub mod method {
    pub const BINDING: u16 = 0x001;
    pub const ALLOCATE: u16 = 0x003;
    pub const REFRESH: u16 = 0x004;
    pub const SEND: u16 = 0x006;
    pub const DATA: u16 = 0x007;
    pub const CREATE_PERMISSION: u16 = 0x008;
    pub const CHANNEL_BIND: u16 = 0x009;
}

pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const SOFTWARE: u16 = 0x8022;
    pub const FINGERPRINT: u16 = 0x8028;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        }
    }
}

pub type TransactionId = [u8; 12];

pub fn new_transaction_id() -> TransactionId {
    rand::random()
}

fn message_type(method: u16, class: Class) -> u16 {
    let c = class.bits();
    (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((c & 0b01) << 4)
        | ((c & 0b10) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let class = match ((t >> 4) & 0b01) | ((t >> 7) & 0b10) {
        0b00 => Class::Request,
        0b01 => Class::Indication,
        0b10 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

/// Quick check used for demultiplexing: does this datagram look like a STUN message?
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf[0] & 0xC0 == 0
        && u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) == MAGIC_COOKIE
}

/// Length of the STUN message at the start of `buf` (header + body), if the header is present.
/// Used for TURN-over-TCP framing, where messages are self-delimiting.
pub fn framed_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 4 {
        return None;
    }
    Some(HEADER_LEN + u16::from_be_bytes([buf[2], buf[3]]) as usize)
}

/// Long-term credential key (RFC 5389 §15.4): MD5(username ":" realm ":" password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> Vec<u8> {
    use md5::Digest;
    let mut h = md5::Md5::new();
    h.update(format!("{username}:{realm}:{password}").as_bytes());
    h.finalize().to_vec()
}

/// Builder for outgoing messages. Attributes are appended in order; integrity and fingerprint
/// are added by `build`.
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(method: u16, class: Class, tid: TransactionId) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid);
        MessageBuilder { buf }
    }

    fn tid(&self) -> TransactionId {
        let mut t = [0u8; 12];
        t.copy_from_slice(&self.buf[8..20]);
        t
    }

    pub fn attr(mut self, typ: u16, value: &[u8]) -> Self {
        self.push_attr(typ, value);
        self
    }

    fn push_attr(&mut self, typ: u16, value: &[u8]) {
        let len = value.len().min(u16::MAX as usize);
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        self.buf.extend_from_slice(&value[..len]);
        let pad = (4 - len % 4) % 4;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self.set_len();
    }

    fn set_len(&mut self) {
        let body = (self.buf.len() - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&body.to_be_bytes());
    }

    pub fn u32_attr(self, typ: u16, v: u32) -> Self {
        self.attr(typ, &v.to_be_bytes())
    }

    pub fn xor_addr(self, typ: u16, addr: SocketAddr) -> Self {
        let tid = self.tid();
        let v = encode_xor_addr(addr, &tid);
        self.attr(typ, &v)
    }

    /// Appends MESSAGE-INTEGRITY (if a key is given) and FINGERPRINT.
    pub fn build(mut self, key: Option<&[u8]>, fingerprint: bool) -> Vec<u8> {
        if let Some(key) = key {
            // The length field must already account for the integrity attribute (24 bytes).
            let body = (self.buf.len() - HEADER_LEN + 24) as u16;
            self.buf[2..4].copy_from_slice(&body.to_be_bytes());
            let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
            let tag = hmac::sign(&k, &self.buf);
            self.push_attr(attr::MESSAGE_INTEGRITY, tag.as_ref());
        }
        if fingerprint {
            let body = (self.buf.len() - HEADER_LEN + 8) as u16;
            self.buf[2..4].copy_from_slice(&body.to_be_bytes());
            let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&self.buf);
            self.push_attr(attr::FINGERPRINT, &(crc ^ FINGERPRINT_XOR).to_be_bytes());
        }
        self.buf
    }
}

fn encode_xor_addr(addr: SocketAddr, tid: &TransactionId) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut v = Vec::with_capacity(20);
    v.push(0);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.push(0x01);
            v.extend_from_slice(&port.to_be_bytes());
            let x = u32::from(ip) ^ MAGIC_COOKIE;
            v.extend_from_slice(&x.to_be_bytes());
        }
        IpAddr::V6(ip) => {
            v.push(0x02);
            v.extend_from_slice(&port.to_be_bytes());
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            mask[4..].copy_from_slice(tid);
            let o = ip.octets();
            for i in 0..16 {
                v.push(o[i] ^ mask[i]);
            }
        }
    }
    v
}

fn decode_addr(value: &[u8], xor: bool, tid: &TransactionId) -> Option<SocketAddr> {
    if value.len() < 8 {
        return None;
    }
    let family = value[1];
    let mut port = u16::from_be_bytes([value[2], value[3]]);
    if xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    match family {
        0x01 => {
            let mut ip = u32::from_be_bytes([value[4], value[5], value[6], value[7]]);
            if xor {
                ip ^= MAGIC_COOKIE;
            }
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        0x02 => {
            if value.len() < 20 {
                return None;
            }
            let mut o = [0u8; 16];
            o.copy_from_slice(&value[4..20]);
            if xor {
                let mut mask = [0u8; 16];
                mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                mask[4..].copy_from_slice(tid);
                for i in 0..16 {
                    o[i] ^= mask[i];
                }
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
        }
        _ => None,
    }
}

/// A parsed STUN message borrowing the datagram.
#[derive(Debug)]
pub struct Message<'a> {
    pub method: u16,
    pub class: Class,
    pub tid: TransactionId,
    raw: &'a [u8],
    /// (type, value, offset of the attribute header in `raw`)
    attrs: Vec<(u16, &'a [u8], usize)>,
}

impl<'a> Message<'a> {
    pub fn parse(buf: &'a [u8]) -> Option<Message<'a>> {
        if !is_stun(buf) {
            return None;
        }
        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        if !len.is_multiple_of(4) || buf.len() < HEADER_LEN + len {
            return None;
        }
        let raw = &buf[..HEADER_LEN + len];
        let (method, class) = split_type(u16::from_be_bytes([buf[0], buf[1]]));
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&buf[8..20]);
        let mut attrs = Vec::new();
        let mut off = HEADER_LEN;
        while off + 4 <= raw.len() {
            let typ = u16::from_be_bytes([raw[off], raw[off + 1]]);
            let alen = u16::from_be_bytes([raw[off + 2], raw[off + 3]]) as usize;
            let start = off + 4;
            let end = start.checked_add(alen)?;
            if end > raw.len() {
                return None;
            }
            attrs.push((typ, &raw[start..end], off));
            off = end + (4 - alen % 4) % 4;
        }
        Some(Message {
            method,
            class,
            tid,
            raw,
            attrs,
        })
    }

    pub fn get(&self, typ: u16) -> Option<&'a [u8]> {
        self.attrs
            .iter()
            .find(|(t, _, _)| *t == typ)
            .map(|(_, v, _)| *v)
    }

    pub fn xor_addr(&self, typ: u16) -> Option<SocketAddr> {
        decode_addr(self.get(typ)?, true, &self.tid)
    }

    /// XOR-MAPPED-ADDRESS, falling back to the legacy MAPPED-ADDRESS.
    pub fn mapped_addr(&self) -> Option<SocketAddr> {
        self.xor_addr(attr::XOR_MAPPED_ADDRESS)
            .or_else(|| decode_addr(self.get(attr::MAPPED_ADDRESS)?, false, &self.tid))
    }

    pub fn u32_attr(&self, typ: u16) -> Option<u32> {
        let v = self.get(typ)?;
        if v.len() < 4 {
            return None;
        }
        Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    pub fn string_attr(&self, typ: u16) -> Option<String> {
        Some(String::from_utf8_lossy(self.get(typ)?).into_owned())
    }

    /// ERROR-CODE as (code, reason).
    pub fn error_code(&self) -> Option<(u16, String)> {
        let v = self.get(attr::ERROR_CODE)?;
        if v.len() < 4 {
            return None;
        }
        let code = (v[2] & 0x07) as u16 * 100 + v[3] as u16;
        Some((code, String::from_utf8_lossy(&v[4..]).into_owned()))
    }

    /// Verifies MESSAGE-INTEGRITY against `key`. Returns false when absent or wrong.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some((_, value, off)) = self
            .attrs
            .iter()
            .find(|(t, _, _)| *t == attr::MESSAGE_INTEGRITY)
        else {
            return false;
        };
        let mut covered = self.raw[..*off].to_vec();
        let body = (*off - HEADER_LEN + 24) as u16;
        covered[2..4].copy_from_slice(&body.to_be_bytes());
        let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        hmac::verify(&k, &covered, value).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_roundtrip() {
        for m in [
            method::BINDING,
            method::ALLOCATE,
            method::CHANNEL_BIND,
            method::DATA,
        ] {
            for c in [
                Class::Request,
                Class::Indication,
                Class::Success,
                Class::Error,
            ] {
                assert_eq!(split_type(message_type(m, c)), (m, c));
            }
        }
        // Well-known values from RFC 5389/5766.
        assert_eq!(message_type(method::BINDING, Class::Request), 0x0001);
        assert_eq!(message_type(method::BINDING, Class::Success), 0x0101);
        assert_eq!(message_type(method::ALLOCATE, Class::Error), 0x0113);
        assert_eq!(message_type(method::DATA, Class::Indication), 0x0017);
    }

    #[test]
    fn build_parse_with_integrity_and_fingerprint() {
        let tid = new_transaction_id();
        let key = long_term_key("user", "realm", "pass");
        let peer: SocketAddr = "192.0.2.7:4321".parse().unwrap();
        let peer6: SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        let msg = MessageBuilder::new(method::CREATE_PERMISSION, Class::Request, tid)
            .xor_addr(attr::XOR_PEER_ADDRESS, peer)
            .xor_addr(attr::XOR_RELAYED_ADDRESS, peer6)
            .attr(attr::USERNAME, b"user")
            .build(Some(&key), true);
        let m = Message::parse(&msg).unwrap();
        assert_eq!(m.method, method::CREATE_PERMISSION);
        assert_eq!(m.class, Class::Request);
        assert_eq!(m.tid, tid);
        assert_eq!(m.xor_addr(attr::XOR_PEER_ADDRESS), Some(peer));
        assert_eq!(m.xor_addr(attr::XOR_RELAYED_ADDRESS), Some(peer6));
        assert_eq!(m.string_attr(attr::USERNAME).as_deref(), Some("user"));
        assert!(m.verify_integrity(&key));
        assert!(!m.verify_integrity(b"wrong"));
        let fp = m.u32_attr(attr::FINGERPRINT).unwrap();
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&msg[..msg.len() - 8]);
        assert_eq!(fp, crc ^ FINGERPRINT_XOR);
    }

    /// RFC 5769 §2.2 sample response (IPv4), checking XOR-MAPPED-ADDRESS decoding and
    /// short-term MESSAGE-INTEGRITY verification against a known-good vector.
    #[test]
    fn rfc5769_response_vector() {
        let hex = "0101003c 2112a442 b7e7a701 bc34d686 fa87dfae 8022000b 74657374 20766563 \
                   746f7220 00200008 0001a147 e112a643 00080014 2b91f599 fd9e90c3 8c7489f9 \
                   2af9ba53 f06be7d7 80280004 c07d4c96";
        let bytes: Vec<u8> = hex
            .split_whitespace()
            .collect::<String>()
            .as_bytes()
            .chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect();
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.class, Class::Success);
        assert_eq!(
            m.mapped_addr(),
            Some("192.0.2.1:32853".parse::<SocketAddr>().unwrap())
        );
        assert!(m.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt"));
    }

    #[test]
    fn error_code_and_garbage() {
        let tid = new_transaction_id();
        let mut ec = vec![0u8, 0, 4, 1];
        ec.extend_from_slice(b"Unauthorized");
        let msg = MessageBuilder::new(method::ALLOCATE, Class::Error, tid)
            .attr(attr::ERROR_CODE, &ec)
            .attr(attr::REALM, b"kms.test")
            .build(None, false);
        let m = Message::parse(&msg).unwrap();
        assert_eq!(m.error_code(), Some((401, "Unauthorized".to_string())));
        // Truncations and random bytes never panic and never parse as valid.
        for n in 0..msg.len() {
            let _ = Message::parse(&msg[..n]);
        }
        let mut bad = msg.clone();
        bad[22] = 0xff; // attribute length beyond the message
        bad[23] = 0xff;
        assert!(Message::parse(&bad).is_none());
        for i in 0..2000u32 {
            let junk: Vec<u8> = (0..(i % 64)).map(|_| rand::random()).collect();
            let _ = Message::parse(&junk);
        }
    }
}
