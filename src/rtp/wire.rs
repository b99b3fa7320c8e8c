//! RTP headers (RFC 3550) and the keyframe hints the graph needs, parsed without trusting
//! the datagram: every length is checked, nothing panics.

/// The fixed header and where the payload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Length of the header with CSRCs and extension: what SRTP leaves in the clear.
    pub header_len: usize,
    /// Padding bytes at the end (P bit); only meaningful once decrypted.
    pub padding: bool,
}

/// RTP and RTCP share a port with rtcp-mux; RFC 5761 4: payload types 64-95 are RTCP.
pub fn is_rtcp(d: &[u8]) -> bool {
    d.len() >= 8 && d[0] >> 6 == 2 && (192..=223).contains(&d[1])
}

pub fn parse_rtp(d: &[u8]) -> Option<RtpHeader> {
    if d.len() < 12 || d[0] >> 6 != 2 || is_rtcp(d) {
        return None;
    }
    let cc = usize::from(d[0] & 0x0F);
    let mut len = 12 + 4 * cc;
    if d[0] & 0x10 != 0 {
        let ext = d.get(len..len + 4)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        len += 4 + 4 * words;
    }
    if len > d.len() {
        return None;
    }
    Some(RtpHeader {
        marker: d[1] & 0x80 != 0,
        payload_type: d[1] & 0x7F,
        seq: u16::from_be_bytes([d[2], d[3]]),
        timestamp: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        header_len: len,
        padding: d[0] & 0x20 != 0,
    })
}

/// The payload of a decrypted packet, without padding; None when the padding count is bogus.
pub fn payload<'a>(d: &'a [u8], h: &RtpHeader) -> Option<&'a [u8]> {
    let body = d.get(h.header_len..)?;
    if !h.padding {
        return Some(body);
    }
    let pad = usize::from(*body.last()?);
    if pad == 0 || pad > body.len() {
        return None;
    }
    body.get(..body.len() - pad)
}

/// A header without CSRCs or extensions: what we send (header extensions are per hop and none
/// are negotiated on plain RTP).
pub fn write_rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(pt & 0x7F | if marker { 0x80 } else { 0 });
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// RFC 7741 4.3: the payload descriptor, then a VP8 frame header whose P bit is 0 on keyframes;
/// only the first packet of a frame (S=1, partition 0) carries it.
pub fn vp8_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else {
        return false;
    };
    let s = b0 & 0x10 != 0;
    let pid = b0 & 0x07;
    if !s || pid != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(i) else {
            return false;
        };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID, 7 or 15 bits.
            let Some(&pic) = p.get(i) else {
                return false;
            };
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
}

/// RFC 6184: an IDR slice (type 5), or SPS (7) which encoders send right before one, alone,
/// in a STAP-A (24) or at the start of a FU-A (28).
pub fn h264_keyframe(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else {
        return false;
    };
    let key = |t: u8| t == 5 || t == 7;
    match b0 & 0x1F {
        24 => {
            let mut i = 1;
            while let Some(len) = p.get(i..i + 2) {
                let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
                match p.get(i + 2) {
                    Some(&h) if n > 0 => {
                        if key(h & 0x1F) {
                            return true;
                        }
                    }
                    _ => return false,
                }
                i += 2 + n;
            }
            false
        }
        28 => p.get(1).is_some_and(|fu| fu & 0x80 != 0 && key(fu & 0x1F)),
        t => key(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_parse_is_total() {
        let p = write_rtp(96, true, 7, 1000, 0xABCD, b"xy");
        let h = parse_rtp(&p).unwrap();
        assert_eq!(
            (h.payload_type, h.marker, h.seq, h.timestamp),
            (96, true, 7, 1000)
        );
        assert_eq!(payload(&p, &h).unwrap(), b"xy");
        for n in 0..p.len() {
            let _ = parse_rtp(&p[..n]);
        }
        // Extension longer than the datagram.
        let mut e = write_rtp(96, false, 1, 1, 1, &[0; 8]);
        e[0] |= 0x10;
        e[14] = 0xFF;
        assert!(parse_rtp(&e).is_none());
        // Bogus padding.
        let mut q = p.clone();
        q[0] |= 0x20;
        *q.last_mut().unwrap() = 200;
        let h = parse_rtp(&q).unwrap();
        assert!(payload(&q, &h).is_none());
        assert!(parse_rtp(&[0x80, 200, 0, 1, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn keyframe_hints() {
        // VP8: X=1, I=1 with 15-bit picture id, then frame header with P=0.
        assert!(vp8_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x10, 0x02]));
        assert!(!vp8_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x11]));
        assert!(vp8_keyframe(&[0x10, 0x00]));
        assert!(!vp8_keyframe(&[0x00, 0x00]), "not the start of a frame");
        assert!(!vp8_keyframe(&[0x90, 0x80]));
        assert!(h264_keyframe(&[0x65, 0]));
        assert!(h264_keyframe(&[0x67, 0]));
        assert!(!h264_keyframe(&[0x41, 0]));
        assert!(h264_keyframe(&[0x7C, 0x85, 0]));
        assert!(!h264_keyframe(&[0x7C, 0x05, 0]), "FU-A continuation");
        assert!(h264_keyframe(&[0x78, 0, 2, 0x09, 0x10, 0, 3, 0x67, 1, 2]));
        assert!(!h264_keyframe(&[0x78, 0, 200, 0x09]));
        assert!(!h264_keyframe(&[]));
    }
}
