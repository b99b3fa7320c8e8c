//! SDP for plain RTP (RFC 4566, RFC 3264 offer/answer), as KMS's RtpEndpoint speaks it: no ICE,
//! no BUNDLE, one port pair per m-line, optional SDES keys (RFC 4568).
//!
//! Pure functions over text: the session decides which ports and keys to put in.

use std::net::{IpAddr, SocketAddr};

use super::srtp::{format_crypto, parse_crypto, CryptoAttr, SrtpSuite};
use crate::media::{CodecId, MediaKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// What the other side of this direction is.
    pub fn reverse(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// RTCP feedback negotiated for a payload type or m-line (RFC 4585, RFC 5104, REMB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    pub nack: bool,
    pub pli: bool,
    pub fir: bool,
    pub remb: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMedia {
    pub media: String,
    pub port: u16,
    pub proto: String,
    pub fmts: Vec<String>,
    pub conn: Option<IpAddr>,
    /// (pt, name, clock rate, channels)
    pub rtpmap: Vec<(u8, String, u32, Option<u8>)>,
    pub fmtp: Vec<(u8, String)>,
    /// (pt or None for `*`, feedback type with parameter)
    pub rtcp_fb: Vec<(Option<u8>, String)>,
    pub direction: Option<Direction>,
    pub rtcp_mux: bool,
    pub rtcp: Option<(u16, Option<IpAddr>)>,
    pub crypto: Vec<CryptoAttr>,
    pub mid: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedSdp {
    pub conn: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub media: Vec<ParsedMedia>,
}

fn parse_conn(v: &str) -> Option<IpAddr> {
    let mut it = v.split_ascii_whitespace();
    if it.next()? != "IN" {
        return None;
    }
    it.next()?;
    // Multicast addresses carry "/ttl"; we only take the address.
    it.next()?.split('/').next()?.parse().ok()
}

/// Parses what we need and ignores the rest (ICE, ssrc, extmap, unknown attributes). Errors only
/// when the text is not SDP at all.
pub fn parse(sdp: &str) -> Result<ParsedSdp, String> {
    let mut out = ParsedSdp::default();
    let mut saw_version = false;
    for raw in sdp.lines() {
        let line = raw.trim_end_matches('\r');
        let Some((t, v)) = line.split_once('=') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("not an SDP line: {line:?}"));
        };
        match t {
            "v" => saw_version = true,
            "m" => {
                let mut it = v.split_ascii_whitespace();
                let media = it.next().unwrap_or_default().to_owned();
                // "port/count" is allowed; the count does not apply to unicast RTP.
                let port = it
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| format!("bad m-line: {line:?}"))?;
                let proto = it.next().unwrap_or_default().to_owned();
                let fmts = it.map(str::to_owned).collect();
                out.media.push(ParsedMedia {
                    media,
                    port,
                    proto,
                    fmts,
                    conn: None,
                    rtpmap: Vec::new(),
                    fmtp: Vec::new(),
                    rtcp_fb: Vec::new(),
                    direction: None,
                    rtcp_mux: false,
                    rtcp: None,
                    crypto: Vec::new(),
                    mid: None,
                });
            }
            "c" => {
                let c = parse_conn(v);
                match out.media.last_mut() {
                    Some(m) => m.conn = c.or(m.conn),
                    None => out.conn = c.or(out.conn),
                }
            }
            "a" => {
                let (name, value) = v.split_once(':').unwrap_or((v, ""));
                if let Some(d) = Direction::parse(name) {
                    match out.media.last_mut() {
                        Some(m) => m.direction = Some(d),
                        None => out.direction = Some(d),
                    }
                    continue;
                }
                let Some(m) = out.media.last_mut() else {
                    continue;
                };
                match name {
                    "rtpmap" => {
                        if let Some(r) = parse_rtpmap(value) {
                            m.rtpmap.push(r);
                        }
                    }
                    "fmtp" => {
                        if let Some((pt, p)) = value.split_once(' ') {
                            if let Ok(pt) = pt.parse() {
                                m.fmtp.push((pt, p.trim().to_owned()));
                            }
                        }
                    }
                    "rtcp-fb" => {
                        if let Some((pt, fb)) = value.split_once(' ') {
                            let pt = if pt == "*" {
                                None
                            } else {
                                match pt.parse() {
                                    Ok(p) => Some(p),
                                    Err(_) => continue,
                                }
                            };
                            m.rtcp_fb.push((pt, fb.trim().to_owned()));
                        }
                    }
                    "rtcp-mux" => m.rtcp_mux = true,
                    "rtcp" => {
                        let mut it = value.split_ascii_whitespace();
                        if let Some(Ok(p)) = it.next().map(str::parse::<u16>) {
                            let rest: Vec<&str> = it.collect();
                            m.rtcp = Some((p, parse_conn(&rest.join(" "))));
                        }
                    }
                    "crypto" => {
                        if let Some(c) = parse_crypto(value) {
                            m.crypto.push(c);
                        }
                    }
                    "mid" => m.mid = Some(value.to_owned()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err("no v= line".into());
    }
    Ok(out)
}

fn parse_rtpmap(v: &str) -> Option<(u8, String, u32, Option<u8>)> {
    let (pt, enc) = v.split_once(' ')?;
    let pt: u8 = pt.parse().ok()?;
    if pt > 127 {
        return None;
    }
    let mut it = enc.trim().split('/');
    let name = it.next()?.to_owned();
    let clock: u32 = it.next()?.parse().ok()?;
    let ch = match it.next() {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    Some((pt, name, clock, ch))
}

impl ParsedMedia {
    pub fn kind(&self) -> Option<MediaKind> {
        match self.media.as_str() {
            "audio" => Some(MediaKind::Audio),
            "video" => Some(MediaKind::Video),
            _ => None,
        }
    }

    pub fn secure(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/SAVP") || self.proto.eq_ignore_ascii_case("RTP/SAVPF")
    }

    fn plain(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/AVP") || self.proto.eq_ignore_ascii_case("RTP/AVPF")
    }

    fn fmtp_of(&self, pt: u8) -> &str {
        self.fmtp
            .iter()
            .find(|(p, _)| *p == pt)
            .map_or("", |(_, f)| f.as_str())
    }

    /// The codec of each listed payload type, static ones (RFC 3551) included.
    pub fn codecs(&self) -> Vec<(u8, CodecId)> {
        let mut v = Vec::new();
        for f in &self.fmts {
            let Ok(pt) = f.parse::<u8>() else { continue };
            let c = match self.rtpmap.iter().find(|r| r.0 == pt) {
                Some((_, name, clock, ch)) => CodecId::new(name, *clock, *ch, self.fmtp_of(pt)),
                None => match pt {
                    0 => CodecId::new("PCMU", 8000, None, ""),
                    8 => CodecId::new("PCMA", 8000, None, ""),
                    _ => continue,
                },
            };
            v.push((pt, c));
        }
        v
    }

    fn feedback_of(&self, pt: u8) -> Feedback {
        let mut f = Feedback::default();
        for (p, fb) in &self.rtcp_fb {
            if p.is_some_and(|p| p != pt) {
                continue;
            }
            match fb.split_ascii_whitespace().collect::<Vec<_>>().as_slice() {
                ["nack"] => f.nack = true,
                ["nack", "pli"] => f.pli = true,
                ["ccm", "fir"] => f.fir = true,
                ["goog-remb"] => f.remb = true,
                _ => {}
            }
        }
        f
    }
}

pub fn fmtp_value<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
    })
}

/// Whether we can forward this codec: the ones KMS's RtpEndpoint negotiates that a packet
/// forwarder can pass between WebRTC and RTP peers.
pub fn supported(kind: MediaKind, c: &CodecId) -> bool {
    let n = &*c.name;
    match kind {
        MediaKind::Audio => {
            (n.eq_ignore_ascii_case("opus") && c.clock_rate == 48000)
                || ((n.eq_ignore_ascii_case("PCMU") || n.eq_ignore_ascii_case("PCMA"))
                    && c.clock_rate == 8000
                    && c.channels.is_none_or(|ch| ch == 1))
        }
        MediaKind::Video => {
            c.clock_rate == 90000
                && (n.eq_ignore_ascii_case("VP8")
                    || (n.eq_ignore_ascii_case("H264")
                        && matches!(
                            fmtp_value(&c.fmtp, "packetization-mode").unwrap_or("0"),
                            "0" | "1"
                        )))
        }
    }
}

/// Our codecs for generated offers, in preference order (KMS offers VP8 first, Opus first).
pub fn our_codecs(kind: MediaKind) -> Vec<(u8, CodecId)> {
    match kind {
        MediaKind::Audio => vec![
            (
                111,
                CodecId::new("opus", 48000, Some(2), "minptime=10;useinbandfec=1"),
            ),
            (0, CodecId::new("PCMU", 8000, None, "")),
            (8, CodecId::new("PCMA", 8000, None, "")),
        ],
        MediaKind::Video => vec![
            (96, CodecId::new("VP8", 90000, None, "")),
            (
                97,
                CodecId::new(
                    "H264",
                    90000,
                    None,
                    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                ),
            ),
            (
                98,
                CodecId::new(
                    "H264",
                    90000,
                    None,
                    "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
                ),
            ),
        ],
    }
}

/// What one accepted m-line carries, from our point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub kind: MediaKind,
    /// Index of the m-line in the SDPs.
    pub index: usize,
    /// Payload types both sides use, with their codec (the offer's numbers).
    pub codecs: Vec<(u8, CodecId)>,
    /// Our direction.
    pub direction: Direction,
    pub rtcp_mux: bool,
    pub feedback: Feedback,
    /// Where the peer receives RTP and RTCP, from its SDP (None: port 0 or no address).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// SDES: (suite, our key for what we send, the peer's key for what we receive).
    pub srtp: Option<(SrtpSuite, Vec<u8>, Vec<u8>)>,
}

/// Our side of a session description: the address and ports to advertise and the SDES key.
#[derive(Debug, Clone)]
pub struct LocalParams {
    pub addr: IpAddr,
    /// RTP ports per kind (audio, video); RTCP is on port + 1 unless muxed.
    pub ports: [u16; 2],
    /// SDES suite and our master key || salt.
    pub crypto: Option<(SrtpSuite, Vec<u8>)>,
    pub session_id: u64,
    pub version: u64,
}

fn kind_index(k: MediaKind) -> usize {
    match k {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

fn addr_type(a: IpAddr) -> &'static str {
    if a.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

fn session_header(out: &mut String, p: &LocalParams) {
    let t = addr_type(p.addr);
    out.push_str("v=0\r\n");
    out.push_str(&format!(
        "o=- {} {} IN {t} {}\r\n",
        p.session_id, p.version, p.addr
    ));
    out.push_str("s=Kurento Media Server\r\n");
    out.push_str(&format!("c=IN {t} {}\r\n", p.addr));
    out.push_str("t=0 0\r\n");
}

fn remote_addrs(
    m: &ParsedMedia,
    session_conn: Option<IpAddr>,
    mux: bool,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let Some(ip) = m.conn.or(session_conn).filter(|ip| !ip.is_unspecified()) else {
        return (None, None);
    };
    if m.port == 0 {
        return (None, None);
    }
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = if mux {
        rtp
    } else {
        match m.rtcp {
            Some((p, a)) => SocketAddr::new(a.unwrap_or(ip), p),
            None => SocketAddr::new(ip, m.port.wrapping_add(1)),
        }
    };
    (Some(rtp), Some(rtcp))
}

fn write_codecs(out: &mut String, codecs: &[(u8, CodecId)], fb: &[(u8, Feedback)]) {
    for (pt, c) in codecs {
        let ch = c.channels.map(|n| format!("/{n}")).unwrap_or_default();
        out.push_str(&format!(
            "a=rtpmap:{pt} {}/{}{ch}\r\n",
            c.name, c.clock_rate
        ));
        if !c.fmtp.is_empty() {
            out.push_str(&format!("a=fmtp:{pt} {}\r\n", c.fmtp));
        }
        if let Some((_, f)) = fb.iter().find(|(p, _)| p == pt) {
            if f.nack {
                out.push_str(&format!("a=rtcp-fb:{pt} nack\r\n"));
            }
            if f.pli {
                out.push_str(&format!("a=rtcp-fb:{pt} nack pli\r\n"));
            }
            if f.fir {
                out.push_str(&format!("a=rtcp-fb:{pt} ccm fir\r\n"));
            }
            if f.remb {
                out.push_str(&format!("a=rtcp-fb:{pt} goog-remb\r\n"));
            }
        }
    }
}

/// Why an offered m-line was refused, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// The answer to `offer`, and what it negotiates. m-lines we cannot carry are answered with
/// port 0 (RFC 3264 6), as KMS does.
pub fn answer(offer: &ParsedSdp, local: &LocalParams) -> (String, Vec<Negotiated>, Vec<Rejected>) {
    let mut out = String::new();
    session_header(&mut out, local);
    let mut neg = Vec::new();
    let mut rejected = Vec::new();
    let mut taken = [false; 2];
    for (index, m) in offer.media.iter().enumerate() {
        let refuse = |why: String, out: &mut String, rejected: &mut Vec<Rejected>| {
            let fmts = if m.fmts.is_empty() {
                "0".to_owned()
            } else {
                m.fmts.join(" ")
            };
            out.push_str(&format!("m={} 0 {} {fmts}\r\n", m.media, m.proto));
            if let Some(mid) = &m.mid {
                out.push_str(&format!("a=mid:{mid}\r\n"));
            }
            rejected.push(Rejected { index, reason: why });
        };
        let Some(kind) = m.kind() else {
            refuse(format!("media {:?}", m.media), &mut out, &mut rejected);
            continue;
        };
        if m.port == 0 {
            refuse("disabled in the offer".into(), &mut out, &mut rejected);
            continue;
        }
        if taken[kind_index(kind)] {
            refuse(format!("second {:?} m-line", kind), &mut out, &mut rejected);
            continue;
        }
        let srtp = match (&local.crypto, m.secure(), m.plain()) {
            (None, false, true) => None,
            (Some((suite, key)), true, false) => {
                match m
                    .crypto
                    .iter()
                    .find(|c| c.suite == Some(*suite) && c.mki.is_none())
                {
                    Some(c) => Some((c.tag, *suite, key.clone(), c.key.clone())),
                    None => {
                        refuse(
                            format!("no a=crypto with {}", suite.sdp_name()),
                            &mut out,
                            &mut rejected,
                        );
                        continue;
                    }
                }
            }
            _ => {
                refuse(format!("profile {}", m.proto), &mut out, &mut rejected);
                continue;
            }
        };
        let codecs: Vec<(u8, CodecId)> = m
            .codecs()
            .into_iter()
            .filter(|(_, c)| supported(kind, c))
            .collect();
        if codecs.is_empty() {
            refuse("no supported codec".into(), &mut out, &mut rejected);
            continue;
        }
        taken[kind_index(kind)] = true;
        let direction = m
            .direction
            .or(offer.direction)
            .unwrap_or(Direction::SendRecv)
            .reverse();
        let fbs: Vec<(u8, Feedback)> = codecs
            .iter()
            .map(|(pt, _)| (*pt, m.feedback_of(*pt)))
            .collect();
        let feedback = fbs.iter().fold(Feedback::default(), |a, (_, f)| Feedback {
            nack: a.nack || f.nack,
            pli: a.pli || f.pli,
            fir: a.fir || f.fir,
            remb: a.remb || f.remb,
        });
        let pts: Vec<String> = codecs.iter().map(|(p, _)| p.to_string()).collect();
        out.push_str(&format!(
            "m={} {} {} {}\r\n",
            m.media,
            local.ports[kind_index(kind)],
            m.proto,
            pts.join(" ")
        ));
        if let Some(mid) = &m.mid {
            out.push_str(&format!("a=mid:{mid}\r\n"));
        }
        write_codecs(&mut out, &codecs, &fbs);
        if m.rtcp_mux {
            out.push_str("a=rtcp-mux\r\n");
        }
        if let Some((tag, suite, key, _)) = &srtp {
            out.push_str(&format!(
                "a=crypto:{}\r\n",
                format_crypto(*tag, *suite, key)
            ));
        }
        out.push_str(&format!("a={}\r\n", direction.as_str()));
        let (remote_rtp, remote_rtcp) = remote_addrs(m, offer.conn, m.rtcp_mux);
        neg.push(Negotiated {
            kind,
            index,
            codecs,
            direction,
            rtcp_mux: m.rtcp_mux,
            feedback,
            remote_rtp,
            remote_rtcp,
            srtp: srtp.map(|(_, s, ours, theirs)| (s, ours, theirs)),
        });
    }
    (out, neg, rejected)
}

/// Our offer for the requested kinds (`generateOffer`): RTP/AVPF, or RTP/SAVPF with an SDES key.
pub fn offer(local: &LocalParams, kinds: &[MediaKind]) -> String {
    let mut out = String::new();
    session_header(&mut out, local);
    let proto = if local.crypto.is_some() {
        "RTP/SAVPF"
    } else {
        "RTP/AVPF"
    };
    for &kind in kinds {
        let codecs = our_codecs(kind);
        let pts: Vec<String> = codecs.iter().map(|(p, _)| p.to_string()).collect();
        let (media, mid) = match kind {
            MediaKind::Audio => ("audio", "audio0"),
            MediaKind::Video => ("video", "video0"),
        };
        out.push_str(&format!(
            "m={media} {} {proto} {}\r\n",
            local.ports[kind_index(kind)],
            pts.join(" ")
        ));
        out.push_str(&format!("a=mid:{mid}\r\n"));
        let fb = match kind {
            // KMS offers feedback for video only; NACK for audio would only add delay.
            MediaKind::Audio => Feedback::default(),
            MediaKind::Video => Feedback {
                nack: true,
                pli: true,
                fir: true,
                remb: true,
            },
        };
        let fbs: Vec<(u8, Feedback)> = codecs.iter().map(|(p, _)| (*p, fb)).collect();
        write_codecs(&mut out, &codecs, &fbs);
        if let Some((suite, key)) = &local.crypto {
            out.push_str(&format!("a=crypto:{}\r\n", format_crypto(1, *suite, key)));
        }
        out.push_str("a=sendrecv\r\n");
    }
    out
}

/// What the peer's answer to our `offer` negotiates.
pub fn apply_answer(
    ours: &ParsedSdp,
    answer: &ParsedSdp,
    local: &LocalParams,
) -> Result<Vec<Negotiated>, String> {
    if answer.media.len() != ours.media.len() {
        return Err(format!(
            "answer has {} m-lines, the offer {}",
            answer.media.len(),
            ours.media.len()
        ));
    }
    let mut neg = Vec::new();
    for (index, (o, a)) in ours.media.iter().zip(&answer.media).enumerate() {
        let Some(kind) = o.kind() else { continue };
        if a.port == 0 || a.kind() != Some(kind) {
            continue;
        }
        let offered = o.codecs();
        let codecs: Vec<(u8, CodecId)> = a
            .codecs()
            .into_iter()
            .filter(|(_, c)| supported(kind, c))
            .filter(|(pt, c)| {
                offered.iter().any(|(p, oc)| {
                    p == pt
                        && oc.name.eq_ignore_ascii_case(&c.name)
                        && oc.clock_rate == c.clock_rate
                })
            })
            .collect();
        if codecs.is_empty() {
            continue;
        }
        let srtp = match &local.crypto {
            None => None,
            Some((suite, key)) => {
                let c = a
                    .crypto
                    .iter()
                    .find(|c| c.suite == Some(*suite) && c.mki.is_none())
                    .ok_or_else(|| format!("m-line {index}: no usable a=crypto in the answer"))?;
                Some((*suite, key.clone(), c.key.clone()))
            }
        };
        let direction = a
            .direction
            .or(answer.direction)
            .unwrap_or(Direction::SendRecv)
            .reverse();
        let mut feedback = Feedback::default();
        for (pt, _) in &codecs {
            let f = a.feedback_of(*pt);
            let mine = o.feedback_of(*pt);
            feedback.nack |= f.nack && mine.nack;
            feedback.pli |= f.pli && mine.pli;
            feedback.fir |= f.fir && mine.fir;
            feedback.remb |= f.remb && mine.remb;
        }
        // We offered no rtcp-mux; a peer that muxes anyway is handled by receiving RTCP on
        // either port and latching.
        let mux = a.rtcp_mux && o.rtcp_mux;
        let (remote_rtp, remote_rtcp) = remote_addrs(a, answer.conn, mux);
        neg.push(Negotiated {
            kind,
            index,
            codecs,
            direction,
            rtcp_mux: mux,
            feedback,
            remote_rtp,
            remote_rtcp,
            srtp,
        });
    }
    Ok(neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(crypto: Option<(SrtpSuite, Vec<u8>)>) -> LocalParams {
        LocalParams {
            addr: "10.0.0.1".parse().unwrap(),
            ports: [40000, 40002],
            crypto,
            session_id: 1,
            version: 1,
        }
    }

    fn m_lines(sdp: &str) -> Vec<&str> {
        sdp.lines().filter(|l| l.starts_with("m=")).collect()
    }

    struct Case {
        name: &'static str,
        offer: &'static str,
        crypto: bool,
        m: &'static [&'static str],
        contains: &'static [&'static str],
        absent: &'static [&'static str],
        /// (kind, our direction, remote rtp, remote rtcp)
        neg: &'static [(MediaKind, Direction, &'static str, &'static str)],
    }

    const FFMPEG: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:libavformat 59.27.100\r\nm=video 5004 RTP/AVP 96\r\nb=AS:200\r\na=rtpmap:96 VP8/90000\r\nm=audio 5006 RTP/AVP 97\r\nb=AS:64\r\na=rtpmap:97 opus/48000/2\r\na=fmtp:97 sprop-stereo=1\r\n";

    const SIP: &str = "v=0\no=root 1 1 IN IP4 192.0.2.10\ns=Asterisk\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 17000 RTP/AVP 9 0 8 101\na=rtpmap:9 G722/8000\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\na=ptime:20\na=sendrecv\n";

    const RECVONLY_VIDEO: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=video 30000 RTP/AVP 96 97 34\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:97 MP4V-ES/90000\r\na=rtpmap:34 H263/90000\r\na=recvonly\r\nm=video 30002 RTP/AVP 97\r\na=rtpmap:97 MP4V-ES/90000\r\na=recvonly\r\n";

    const SAVP: &str = "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 20000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\na=sendonly\r\n";

    const MUX: &str = "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nt=0 0\r\nm=video 20000 RTP/AVPF 100 101\r\nc=IN IP4 203.0.113.6\r\na=rtpmap:100 VP8/90000\r\na=rtcp-fb:100 nack\r\na=rtcp-fb:100 nack pli\r\na=rtcp-fb:100 goog-remb\r\na=rtcp-fb:100 transport-cc\r\na=rtpmap:101 rtx/90000\r\na=fmtp:101 apt=100\r\na=rtcp-mux\r\nm=audio 20010 RTP/AVP 0\r\nc=IN IP4 203.0.113.5\r\na=rtcp:20020 IN IP4 203.0.113.9\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";

    #[test]
    fn answers_to_offers_real_peers_send() {
        use Direction::*;
        use MediaKind::*;
        let cases = [
            Case {
                name: "ffmpeg",
                offer: FFMPEG,
                crypto: false,
                m: &["m=video 40002 RTP/AVP 96", "m=audio 40000 RTP/AVP 97"],
                contains: &[
                    "a=rtpmap:96 VP8/90000",
                    "a=rtpmap:97 opus/48000/2",
                    "c=IN IP4 10.0.0.1",
                ],
                absent: &["a=rtcp-mux", "a=rtcp-fb"],
                neg: &[
                    (Video, SendRecv, "127.0.0.1:5004", "127.0.0.1:5005"),
                    (Audio, SendRecv, "127.0.0.1:5006", "127.0.0.1:5007"),
                ],
            },
            Case {
                name: "SIP gateway",
                offer: SIP,
                crypto: false,
                m: &["m=audio 40000 RTP/AVP 0 8"],
                contains: &["a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=sendrecv"],
                absent: &["G722", "telephone-event"],
                neg: &[(Audio, SendRecv, "192.0.2.10:17000", "192.0.2.10:17001")],
            },
            Case {
                name: "recvonly H264 with MP4V-ES and H263",
                offer: RECVONLY_VIDEO,
                crypto: false,
                m: &["m=video 40002 RTP/AVP 96", "m=video 0 RTP/AVP 97"],
                contains: &["a=sendonly", "packetization-mode=1"],
                absent: &["MP4V", "H263"],
                neg: &[(Video, SendOnly, "198.51.100.7:30000", "198.51.100.7:30001")],
            },
            Case {
                name: "SAVP with SDES",
                offer: SAVP,
                crypto: true,
                m: &["m=audio 40000 RTP/SAVP 0"],
                contains: &["a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:", "a=recvonly"],
                absent: &["a=crypto:1"],
                neg: &[(Audio, RecvOnly, "203.0.113.5:20000", "203.0.113.5:20001")],
            },
            Case {
                name: "SAVP without crypto configured",
                offer: SAVP,
                crypto: false,
                m: &["m=audio 0 RTP/SAVP 0"],
                contains: &[],
                absent: &["a=crypto"],
                neg: &[],
            },
            Case {
                name: "AVP with crypto configured",
                offer: SIP,
                crypto: true,
                m: &["m=audio 0 RTP/AVP 9 0 8 101"],
                contains: &[],
                absent: &["a=crypto"],
                neg: &[],
            },
            Case {
                name: "rtcp-mux and a=rtcp",
                offer: MUX,
                crypto: false,
                m: &[
                    "m=video 40002 RTP/AVPF 100",
                    "m=audio 40000 RTP/AVP 0",
                    "m=application 0 UDP/DTLS/SCTP webrtc-datachannel",
                ],
                contains: &[
                    "a=rtcp-mux",
                    "a=rtcp-fb:100 nack\r\n",
                    "a=rtcp-fb:100 nack pli",
                    "a=rtcp-fb:100 goog-remb",
                ],
                absent: &["transport-cc", "rtx", "ccm fir"],
                neg: &[
                    (Video, SendRecv, "203.0.113.6:20000", "203.0.113.6:20000"),
                    (Audio, SendRecv, "203.0.113.5:20010", "203.0.113.9:20020"),
                ],
            },
        ];
        for c in cases {
            let key = vec![7u8; 30];
            let l = local(
                c.crypto
                    .then(|| (SrtpSuite::AesCm128HmacSha1_80, key.clone())),
            );
            let offer = parse(c.offer).unwrap();
            let (sdp, neg, _) = answer(&offer, &l);
            assert_eq!(m_lines(&sdp), c.m, "{}: {sdp}", c.name);
            for s in c.contains {
                assert!(sdp.contains(s), "{}: {s:?} missing in {sdp}", c.name);
            }
            for s in c.absent {
                assert!(!sdp.contains(s), "{}: {s:?} present in {sdp}", c.name);
            }
            let got: Vec<_> = neg
                .iter()
                .map(|n| {
                    (
                        n.kind,
                        n.direction,
                        n.remote_rtp.map(|a| a.to_string()).unwrap_or_default(),
                        n.remote_rtcp.map(|a| a.to_string()).unwrap_or_default(),
                    )
                })
                .collect();
            let want: Vec<_> = c
                .neg
                .iter()
                .map(|(k, d, a, b)| (*k, *d, a.to_string(), b.to_string()))
                .collect();
            assert_eq!(got, want, "{}", c.name);
            // The answer parses back, with one m-line per offered one.
            assert_eq!(parse(&sdp).unwrap().media.len(), offer.media.len());
            if c.crypto && !neg.is_empty() {
                let (suite, ours, theirs) = neg[0].srtp.clone().unwrap();
                assert_eq!(suite, SrtpSuite::AesCm128HmacSha1_80);
                assert_eq!(ours, key);
                assert_eq!(theirs, (0u8..30).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn offer_and_answer_round_trip() {
        for crypto in [false, true] {
            let l = local(crypto.then(|| (SrtpSuite::Aes256CmHmacSha1_80, vec![1u8; 46])));
            let o = offer(&l, &[MediaKind::Audio, MediaKind::Video]);
            assert!(o.contains(if crypto { "RTP/SAVPF" } else { "RTP/AVPF" }));
            assert_eq!(o.contains("a=crypto:1 AES_256_CM_HMAC_SHA1_80"), crypto);
            // A peer answering our offer with its own ports (e.g. another of our endpoints).
            let mut peer = local(crypto.then(|| (SrtpSuite::Aes256CmHmacSha1_80, vec![2u8; 46])));
            peer.ports = [50000, 50002];
            peer.addr = "10.0.0.2".parse().unwrap();
            let parsed = parse(&o).unwrap();
            let (a, peer_neg, rej) = answer(&parsed, &peer);
            assert!(rej.is_empty(), "{rej:?}");
            assert_eq!(peer_neg.len(), 2);
            assert!(peer_neg[1].feedback.pli && peer_neg[1].feedback.remb);
            let neg = apply_answer(&parsed, &parse(&a).unwrap(), &l).unwrap();
            assert_eq!(neg.len(), 2);
            assert_eq!(neg[0].remote_rtp.unwrap().to_string(), "10.0.0.2:50000");
            assert_eq!(neg[1].remote_rtcp.unwrap().to_string(), "10.0.0.2:50003");
            assert_eq!(neg[1].codecs.len(), 3);
            assert!(neg[1].feedback.nack && neg[1].feedback.fir);
            if crypto {
                assert_eq!(neg[0].srtp.as_ref().unwrap().2, vec![2u8; 46]);
            }
        }
    }

    #[test]
    fn garbage_is_not_sdp_and_never_panics() {
        assert!(parse("hello").is_err());
        assert!(parse("").is_err());
        assert!(parse("v=0\r\nm=audio x RTP/AVP 0\r\n").is_err());
        let weird = "v=0\nc=IN\nm=audio 5 RTP/AVP\nc=IN\na=rtpmap:300 x/y\na=fmtp:\na=rtcp-fb:* \na=rtcp:99999\na=crypto:\nm=video 1 RTP/AVP\n";
        let p = parse(weird).unwrap();
        let (sdp, neg, _) = answer(&p, &local(None));
        assert!(neg.is_empty());
        assert!(sdp.starts_with("v=0"));
    }
}
