//! Host address selection and port-range binding.

use std::net::{IpAddr, SocketAddr};

use std::net::UdpSocket;

use super::WebRtcError;

/// Addresses to gather host candidates on. `None` = every interface except loopback and
/// link-local (as libnice does in KMS); if that leaves nothing, loopback is used so a machine
/// without a network still works.
pub fn host_addresses(interfaces: Option<&[String]>) -> Result<Vec<IpAddr>, WebRtcError> {
    let all = if_addrs::get_if_addrs()
        .map_err(|e| WebRtcError::Io(format!("enumerating interfaces: {e}")))?;
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(v) => !v.is_link_local() && !v.is_unspecified() && !v.is_multicast(),
        // Link-local v6 needs scope ids that SDP candidates cannot carry.
        IpAddr::V6(v) => {
            !v.is_unspecified() && !v.is_multicast() && (v.segments()[0] & 0xffc0) != 0xfe80
        }
    };
    let mut out: Vec<IpAddr> = match interfaces {
        Some(names) => all
            .iter()
            .filter(|i| names.iter().any(|n| n.trim() == i.name))
            .map(|i| i.ip())
            .filter(usable)
            .collect(),
        None => {
            let v: Vec<IpAddr> = all
                .iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .filter(usable)
                .collect();
            if v.is_empty() {
                all.iter()
                    .filter(|i| i.is_loopback())
                    .map(|i| i.ip())
                    .filter(usable)
                    .collect()
            } else {
                v
            }
        }
    };
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(WebRtcError::Io(format!(
            "no usable address on network interfaces {interfaces:?}"
        )));
    }
    Ok(out)
}

/// Binds a UDP socket on `ip` with a port in `[min, max]`, starting at a random port so
/// concurrent endpoints do not race for the same one. `(0, 0)` lets the OS choose.
/// Ports on the Fetch standard's "bad ports" list (those in the RTP range KMS allows). Browsers
/// treat ICE candidates on them as administratively prohibited and silently ignore them (Chromium
/// does), so an endpoint that drew one from `minPort`-`maxPort` could never connect.
const BROWSER_BLOCKED_PORTS: &[u16] = &[
    1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669,
    6679, 6697, 10080,
];

fn browser_refuses(port: u32) -> bool {
    port < 1024 && port != 0 && BLOCKED_BELOW_1024.contains(&(port as u16))
        || u16::try_from(port).is_ok_and(|p| BROWSER_BLOCKED_PORTS.contains(&p))
}

/// The Fetch list below 1024 (reachable only with privileges, but a configured range may start
/// there).
const BLOCKED_BELOW_1024: &[u16] = &[
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
    103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
    512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
    995,
];

pub fn bind_udp_in_range(ip: IpAddr, min: u16, max: u16) -> Result<UdpSocket, WebRtcError> {
    if min == 0 && max == 0 {
        return UdpSocket::bind(SocketAddr::new(ip, 0))
            .map_err(|e| WebRtcError::Io(format!("bind {ip}: {e}")));
    }
    let (lo, hi) = (min.max(1).min(max), max.max(min.max(1)));
    let span = (hi - lo) as u32 + 1;
    let start = rand::random::<u32>() % span;
    let mut last_err = None;
    for i in 0..span {
        let port = lo as u32 + (start + i) % span;
        if browser_refuses(port) {
            continue;
        }
        match UdpSocket::bind(SocketAddr::new(ip, port as u16)) {
            Ok(s) => return Ok(s),
            Err(e) => last_err = Some(e),
        }
    }
    Err(WebRtcError::Io(format!(
        "no free UDP port on {ip} in {lo}-{hi}: {last_err:?}"
    )))
}

/// TCP counterpart of `bind_udp_in_range`, for passive ICE-TCP candidates. Tries the UDP
/// socket's port first so both candidates of an address share a port when possible.
pub fn bind_tcp_in_range(
    ip: IpAddr,
    preferred: u16,
    min: u16,
    max: u16,
) -> Result<std::net::TcpListener, WebRtcError> {
    use std::net::TcpListener;
    if !browser_refuses(preferred.into()) {
        if let Ok(l) = TcpListener::bind(SocketAddr::new(ip, preferred)) {
            return Ok(l);
        }
    }
    if min == 0 && max == 0 {
        return TcpListener::bind(SocketAddr::new(ip, 0))
            .map_err(|e| WebRtcError::Io(format!("bind tcp {ip}: {e}")));
    }
    let (lo, hi) = (min.max(1).min(max), max.max(min.max(1)));
    let span = (hi - lo) as u32 + 1;
    let start = rand::random::<u32>() % span;
    for i in 0..span {
        let port = lo as u32 + (start + i) % span;
        if browser_refuses(port) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(SocketAddr::new(ip, port as u16)) {
            return Ok(l);
        }
    }
    Err(WebRtcError::Io(format!(
        "no free TCP port on {ip} in {lo}-{hi}"
    )))
}

/// Replaces the address of a host candidate line with the configured external address of the
/// same family, as KMS does for `externalIPv4` / `externalIPv6`. Other lines pass unchanged.
pub fn rewrite_candidate(line: &str, ext4: Option<IpAddr>, ext6: Option<IpAddr>) -> String {
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() < 8 || parts[6] != "typ" || parts[7] != "host" {
        return line.to_string();
    }
    let Ok(ip) = parts[4].parse::<IpAddr>() else {
        return line.to_string();
    };
    let ext = if ip.is_ipv4() { ext4 } else { ext6 };
    match ext {
        Some(e) if e.is_ipv4() == ip.is_ipv4() => {
            let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            p[4] = e.to_string();
            p.join(" ")
        }
        _ => line.to_string(),
    }
}

/// Applies `rewrite_candidate` to every `a=candidate:` line of an SDP.
pub fn rewrite_sdp(sdp: &str, ext4: Option<IpAddr>, ext6: Option<IpAddr>) -> String {
    if ext4.is_none() && ext6.is_none() {
        return sdp.to_string();
    }
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            },
        };
        if let Some(c) = body.strip_prefix("a=") {
            if c.starts_with("candidate:") {
                out.push_str("a=");
                out.push_str(&rewrite_candidate(c, ext4, ext6));
                out.push_str(nl);
                continue;
            }
        }
        out.push_str(body);
        out.push_str(nl);
    }
    out
}

/// Adds `b=AS:<kbps>` to the audio/video media sections (KMS `maxAudioRecvBandwidth` /
/// `maxVideoRecvBandwidth`; 0 = unlimited, no line). The line goes right after the section's
/// `c=` line, where RFC 4566 orders it.
/// Puts every track we send into one MediaStream, as KMS does. str0m gives each m-line its own
/// stream id when the offer carries none (a recvonly offer); kurento-utils then plays
/// `getRemoteStreams()[0]`, which would hold the audio track alone, and the video never shows.
pub fn single_media_stream(sdp: &str) -> String {
    let first = sdp.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix("a=msid:")
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    });
    let Some(stream) = first else {
        return sdp.to_string();
    };
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let eol = &line[body.len()..];
        let rewritten = if let Some(rest) = body.strip_prefix("a=msid:") {
            let track = rest.split_whitespace().nth(1).unwrap_or_default();
            format!("a=msid:{stream} {track}")
        } else if body.starts_with("a=ssrc:") && body.contains(" msid:") {
            match body.split_once(" msid:") {
                Some((head, ids)) => {
                    let track = ids.split_whitespace().nth(1).unwrap_or_default();
                    format!("{head} msid:{stream} {track}")
                }
                None => body.to_string(),
            }
        } else if body.starts_with("a=msid-semantic:") {
            format!("a=msid-semantic: WMS {stream}")
        } else {
            body.to_string()
        };
        out.push_str(&rewritten);
        out.push_str(eol);
    }
    out
}

pub fn add_bandwidth(sdp: &str, audio_kbps: u32, video_kbps: u32) -> String {
    if audio_kbps == 0 && video_kbps == 0 {
        return sdp.to_string();
    }
    let mut out = String::with_capacity(sdp.len() + 32);
    let mut current = 0u32;
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if body.starts_with("b=AS:") && current > 0 {
            // Replaced by ours.
            continue;
        }
        out.push_str(line);
        if let Some(m) = body.strip_prefix("m=") {
            current = if m.starts_with("audio") {
                audio_kbps
            } else if m.starts_with("video") {
                video_kbps
            } else {
                0
            };
        } else if body.starts_with("c=") && current > 0 {
            let nl = &line[body.len()..];
            out.push_str(&format!(
                "b=AS:{current}{}",
                if nl.is_empty() { "\r\n" } else { nl }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {

    /// Chromium ignored our only host candidate when the endpoint drew port 1719 (H.323, on the
    /// Fetch bad-ports list) from KMS's default range: the call never connected.
    #[test]
    fn ports_browsers_refuse_are_never_bound() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..20 {
            let s = bind_udp_in_range(lo, 1719, 1721).unwrap();
            assert_eq!(s.local_addr().unwrap().port(), 1721);
        }
        assert!(bind_udp_in_range(lo, 1719, 1720).is_err());
        let t = bind_tcp_in_range(lo, 5060, 5060, 5062).unwrap();
        assert_eq!(t.local_addr().unwrap().port(), 5062);
    }

    use super::*;

    #[test]
    fn one_media_stream_for_all_tracks() {
        let sdp = "v=0\r\na=msid-semantic: WMS a b\r\nm=audio 9 X 111\r\na=msid:a ta\r\na=ssrc:1 msid:a ta\r\n\
                   m=video 9 X 96\r\na=msid:b tv\r\na=ssrc:2 cname:x\r\na=ssrc:2 msid:b tv\r\n";
        let out = single_media_stream(sdp);
        assert!(out.contains("a=msid-semantic: WMS a\r\n"));
        assert!(out.contains("a=msid:a tv\r\n"));
        assert!(out.contains("a=ssrc:2 msid:a tv\r\n"));
        assert!(out.contains("a=ssrc:2 cname:x\r\n"));
        assert!(!out.contains(" b "));
        assert_eq!(single_media_stream("v=0\r\n"), "v=0\r\n");
    }

    #[test]
    fn bandwidth_lines_per_kind() {
        let sdp = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 9 x 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
                   m=video 9 x 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:9\r\na=mid:1\r\n";
        let r = add_bandwidth(sdp, 0, 500);
        assert_eq!(r.matches("b=AS:").count(), 1);
        assert!(r.contains("m=video 9 x 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:500\r\na=mid:1"));
        let r = add_bandwidth(sdp, 64, 1000);
        assert!(r.contains("m=audio 9 x 111\r\nc=IN IP4 0.0.0.0\r\nb=AS:64\r\n"));
        assert!(r.contains("b=AS:1000\r\na=mid:1"));
        assert_eq!(add_bandwidth(sdp, 0, 0), sdp);
    }

    #[test]
    fn rewrites_only_host_of_same_family() {
        let ext4: IpAddr = "203.0.113.9".parse().unwrap();
        let c = "candidate:1 1 udp 2130706175 10.0.0.5 40000 typ host ufrag ab";
        assert_eq!(
            rewrite_candidate(c, Some(ext4), None),
            "candidate:1 1 udp 2130706175 203.0.113.9 40000 typ host ufrag ab"
        );
        let s =
            "candidate:2 1 udp 1694498815 198.51.100.1 40000 typ srflx raddr 10.0.0.5 rport 40000";
        assert_eq!(rewrite_candidate(s, Some(ext4), None), s);
        let v6 = "candidate:3 1 udp 2130706175 2001:db8::5 40000 typ host";
        assert_eq!(rewrite_candidate(v6, Some(ext4), None), v6);
        let sdp = format!("v=0\r\na={c}\r\na=mid:0\r\n");
        let r = rewrite_sdp(&sdp, Some(ext4), None);
        assert!(r.contains("203.0.113.9 40000 typ host"));
        assert!(r.ends_with("a=mid:0\r\n"));
    }

    #[test]
    fn loopback_interface_resolves() {
        let v = host_addresses(Some(&["lo".to_string()])).unwrap();
        assert!(v.iter().any(|ip| ip.is_loopback()));
        assert!(host_addresses(Some(&["no-such-if0".to_string()])).is_err());
    }
}
