//! RTCP (RFC 3550, RFC 4585, RFC 5104, draft-alvestrand-rmcat-remb): the reports and feedback
//! a plain RTP endpoint exchanges. Parsing is total: anything malformed is skipped.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// 24-bit signed cumulative loss.
    pub packets_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rtcp {
    SenderReport {
        ssrc: u32,
        ntp: u64,
        rtp_ts: u32,
        packets: u32,
        octets: u32,
        reports: Vec<ReportBlock>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: Vec<ReportBlock>,
    },
    Nack {
        sender: u32,
        media: u32,
        /// Lost sequence numbers.
        seqs: Vec<u16>,
    },
    Pli {
        sender: u32,
        media: u32,
    },
    Fir {
        sender: u32,
        /// (media SSRC, command sequence number)
        entries: Vec<(u32, u8)>,
    },
    Remb {
        sender: u32,
        bps: u64,
        ssrcs: Vec<u32>,
    },
    Bye {
        ssrcs: Vec<u32>,
    },
}

fn u32_at(d: &[u8], i: usize) -> Option<u32> {
    let b = d.get(i..i + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn report_blocks(d: &[u8], count: usize) -> Vec<ReportBlock> {
    let mut v = Vec::new();
    for k in 0..count {
        let o = 24 * k;
        let Some(b) = d.get(o..o + 24) else { break };
        let lost = u32::from_be_bytes([0, b[5], b[6], b[7]]);
        // Sign-extend the 24-bit count.
        let lost = ((lost << 8) as i32) >> 8;
        let (Some(ssrc), Some(hs), Some(j), Some(lsr), Some(dlsr)) = (
            u32_at(b, 0),
            u32_at(b, 8),
            u32_at(b, 12),
            u32_at(b, 16),
            u32_at(b, 20),
        ) else {
            break;
        };
        v.push(ReportBlock {
            ssrc,
            fraction_lost: b[4],
            packets_lost: lost,
            highest_seq: hs,
            jitter: j,
            lsr,
            dlsr,
        });
    }
    v
}

/// Splits a compound packet and parses what we understand; unknown or broken parts are skipped.
pub fn parse(d: &[u8]) -> Vec<Rtcp> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(h) = d.get(i..i + 4) {
        if h[0] >> 6 != 2 {
            break;
        }
        let len = (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1) * 4;
        let Some(pkt) = d.get(i..i + len) else { break };
        i += len;
        let count = usize::from(h[0] & 0x1F);
        let body = &pkt[4..];
        match h[1] {
            200 => {
                let (Some(ssrc), Some(hi), Some(lo), Some(ts), Some(p), Some(o)) = (
                    u32_at(body, 0),
                    u32_at(body, 4),
                    u32_at(body, 8),
                    u32_at(body, 12),
                    u32_at(body, 16),
                    u32_at(body, 20),
                ) else {
                    continue;
                };
                out.push(Rtcp::SenderReport {
                    ssrc,
                    ntp: (u64::from(hi) << 32) | u64::from(lo),
                    rtp_ts: ts,
                    packets: p,
                    octets: o,
                    reports: report_blocks(body.get(24..).unwrap_or(&[]), count),
                });
            }
            201 => {
                let Some(ssrc) = u32_at(body, 0) else {
                    continue;
                };
                out.push(Rtcp::ReceiverReport {
                    ssrc,
                    reports: report_blocks(body.get(4..).unwrap_or(&[]), count),
                });
            }
            203 => {
                let ssrcs = (0..count).filter_map(|k| u32_at(body, 4 * k)).collect();
                out.push(Rtcp::Bye { ssrcs });
            }
            205 if count == 1 => {
                let (Some(sender), Some(media)) = (u32_at(body, 0), u32_at(body, 4)) else {
                    continue;
                };
                let mut seqs = Vec::new();
                let mut k = 8;
                while let Some(f) = body.get(k..k + 4) {
                    let pid = u16::from_be_bytes([f[0], f[1]]);
                    let blp = u16::from_be_bytes([f[2], f[3]]);
                    seqs.push(pid);
                    for b in 0..16 {
                        if blp & (1 << b) != 0 {
                            seqs.push(pid.wrapping_add(b + 1));
                        }
                    }
                    k += 4;
                }
                out.push(Rtcp::Nack {
                    sender,
                    media,
                    seqs,
                });
            }
            206 => {
                let (Some(sender), Some(media)) = (u32_at(body, 0), u32_at(body, 4)) else {
                    continue;
                };
                match count {
                    1 => out.push(Rtcp::Pli { sender, media }),
                    4 => {
                        let mut entries = Vec::new();
                        let mut k = 8;
                        while let (Some(s), Some(&n)) = (u32_at(body, k), body.get(k + 4)) {
                            entries.push((s, n));
                            k += 8;
                        }
                        out.push(Rtcp::Fir { sender, entries });
                    }
                    15 if body.get(8..12) == Some(b"REMB") => {
                        let Some(b) = body.get(12..16) else { continue };
                        let n = usize::from(b[0]);
                        let exp = u32::from(b[1] >> 2);
                        let mantissa =
                            (u64::from(b[1] & 3) << 16) | (u64::from(b[2]) << 8) | u64::from(b[3]);
                        let bps = mantissa.checked_shl(exp).unwrap_or(u64::MAX);
                        let ssrcs = (0..n).filter_map(|k| u32_at(body, 16 + 4 * k)).collect();
                        out.push(Rtcp::Remb { sender, bps, ssrcs });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out
}

fn header(out: &mut Vec<u8>, count: u8, pt: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0x80 | (count & 0x1F), pt, 0, 0]);
    at
}

fn finish(out: &mut [u8], at: usize) {
    let words = ((out.len() - at) / 4 - 1) as u16;
    out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
}

fn write_blocks(out: &mut Vec<u8>, reports: &[ReportBlock]) {
    for r in reports {
        out.extend_from_slice(&r.ssrc.to_be_bytes());
        out.push(r.fraction_lost);
        let lost = (r.packets_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0xFF_FFFF;
        out.extend_from_slice(&lost.to_be_bytes()[1..]);
        out.extend_from_slice(&r.highest_seq.to_be_bytes());
        out.extend_from_slice(&r.jitter.to_be_bytes());
        out.extend_from_slice(&r.lsr.to_be_bytes());
        out.extend_from_slice(&r.dlsr.to_be_bytes());
    }
}

/// Appends one RTCP packet to a compound packet.
pub fn write(out: &mut Vec<u8>, p: &Rtcp) {
    match p {
        Rtcp::SenderReport {
            ssrc,
            ntp,
            rtp_ts,
            packets,
            octets,
            reports,
        } => {
            let r = &reports[..reports.len().min(31)];
            let at = header(out, r.len() as u8, 200);
            out.extend_from_slice(&ssrc.to_be_bytes());
            out.extend_from_slice(&ntp.to_be_bytes());
            out.extend_from_slice(&rtp_ts.to_be_bytes());
            out.extend_from_slice(&packets.to_be_bytes());
            out.extend_from_slice(&octets.to_be_bytes());
            write_blocks(out, r);
            finish(out, at);
        }
        Rtcp::ReceiverReport { ssrc, reports } => {
            let r = &reports[..reports.len().min(31)];
            let at = header(out, r.len() as u8, 201);
            out.extend_from_slice(&ssrc.to_be_bytes());
            write_blocks(out, r);
            finish(out, at);
        }
        Rtcp::Nack {
            sender,
            media,
            seqs,
        } => {
            let at = header(out, 1, 205);
            out.extend_from_slice(&sender.to_be_bytes());
            out.extend_from_slice(&media.to_be_bytes());
            let mut rest: &[u16] = seqs;
            while let Some((&pid, tail)) = rest.split_first() {
                let mut blp = 0u16;
                let mut used = 0;
                for &s in tail {
                    let d = s.wrapping_sub(pid);
                    if (1..=16).contains(&d) {
                        blp |= 1 << (d - 1);
                        used += 1;
                    } else {
                        break;
                    }
                }
                out.extend_from_slice(&pid.to_be_bytes());
                out.extend_from_slice(&blp.to_be_bytes());
                rest = &tail[used..];
            }
            finish(out, at);
        }
        Rtcp::Pli { sender, media } => {
            let at = header(out, 1, 206);
            out.extend_from_slice(&sender.to_be_bytes());
            out.extend_from_slice(&media.to_be_bytes());
            finish(out, at);
        }
        Rtcp::Fir { sender, entries } => {
            let at = header(out, 4, 206);
            out.extend_from_slice(&sender.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            for (s, n) in entries {
                out.extend_from_slice(&s.to_be_bytes());
                out.extend_from_slice(&[*n, 0, 0, 0]);
            }
            finish(out, at);
        }
        Rtcp::Remb { sender, bps, ssrcs } => {
            let at = header(out, 15, 206);
            out.extend_from_slice(&sender.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(b"REMB");
            let mut exp = 0u8;
            let mut m = *bps;
            while m > 0x3FFFF {
                m >>= 1;
                exp += 1;
            }
            let s = &ssrcs[..ssrcs.len().min(255)];
            out.push(s.len() as u8);
            out.push((exp << 2) | ((m >> 16) as u8 & 3));
            out.push((m >> 8) as u8);
            out.push(m as u8);
            for x in s {
                out.extend_from_slice(&x.to_be_bytes());
            }
            finish(out, at);
        }
        Rtcp::Bye { ssrcs } => {
            let s = &ssrcs[..ssrcs.len().min(31)];
            let at = header(out, s.len() as u8, 203);
            for x in s {
                out.extend_from_slice(&x.to_be_bytes());
            }
            finish(out, at);
        }
    }
}

/// RFC 3550 SDES with a CNAME, required in every compound packet.
pub fn write_sdes(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let at = header(out, 1, 202);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let name = &cname.as_bytes()[..cname.len().min(255)];
    out.push(1);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    // Item list ends with a zero octet, then pads to a 32-bit boundary.
    out.push(0);
    while !(out.len() - at).is_multiple_of(4) {
        out.push(0);
    }
    finish(out, at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_kind() {
        let rb = ReportBlock {
            ssrc: 9,
            fraction_lost: 12,
            packets_lost: -3,
            highest_seq: 70000,
            jitter: 44,
            lsr: 0x1234_5678,
            dlsr: 65536,
        };
        let all = vec![
            Rtcp::SenderReport {
                ssrc: 1,
                ntp: 0x0102_0304_0506_0708,
                rtp_ts: 5,
                packets: 6,
                octets: 7,
                reports: vec![rb],
            },
            Rtcp::ReceiverReport {
                ssrc: 2,
                reports: vec![rb, rb],
            },
            Rtcp::Nack {
                sender: 2,
                media: 3,
                seqs: vec![65535, 0, 5, 40],
            },
            Rtcp::Pli {
                sender: 2,
                media: 3,
            },
            Rtcp::Fir {
                sender: 2,
                entries: vec![(3, 7)],
            },
            Rtcp::Remb {
                sender: 2,
                bps: 1_500_000,
                ssrcs: vec![3],
            },
            Rtcp::Bye { ssrcs: vec![1] },
        ];
        let mut buf = Vec::new();
        for p in &all {
            write(&mut buf, p);
        }
        write_sdes(&mut buf, 1, "kms");
        let back = parse(&buf);
        assert_eq!(back.len(), all.len());
        for (a, b) in all.iter().zip(&back) {
            match (a, b) {
                (Rtcp::Remb { bps: x, .. }, Rtcp::Remb { bps: y, .. }) => {
                    assert!(x.abs_diff(*y) * 100 < *x, "{x} vs {y}")
                }
                _ => assert_eq!(a, b),
            }
        }
        for n in 0..buf.len() {
            let _ = parse(&buf[..n]);
        }
    }
}
