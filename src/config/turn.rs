//! `turnURL` as KMS accepts it: `user:password@address:port[?transport=udp|tcp|tls]`.
//!
//! KMS (kmswebrtcsession.c) matches `^(.+):(.+)@([0-9.]+):([0-9]+)(\?transport=(udp|tcp|tls))?$`, so the
//! address is whatever follows the *last* `@` and the user name ends at the *last* `:` before it. That
//! lets passwords contain `@` and user names contain `:` (coturn REST-API names are `<expiry>:<user>`),
//! and we split the same way. As an extension, a bracketed IPv6 address (`[2001:db8::1]:3478`) is
//! accepted. Like KMS we reject domain names: KMS would silently run without TURN, we say so at start-up.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Transport used to reach the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TurnTransport {
    /// `?transport=udp`, the default when no transport is given.
    #[default]
    Udp,
    /// `?transport=tcp`.
    Tcp,
    /// `?transport=tls`.
    Tls,
}

impl TurnTransport {
    /// The spelling used in the URL.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnTransport::Udp => "udp",
            TurnTransport::Tcp => "tcp",
            TurnTransport::Tls => "tls",
        }
    }
}

impl fmt::Display for TurnTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `turnURL`.
///
/// Deliberately has no `Display`: the only printable forms are [`TurnUrl::redacted`] and `Debug`, both of
/// which hide the password, so a careless `info!("{turn}")` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnUrl {
    /// Long-term-credential user name.
    pub username: String,
    /// Long-term-credential password. Never log it.
    pub password: String,
    /// TURN server address (IP only, as in KMS).
    pub host: IpAddr,
    /// TURN server port.
    pub port: u16,
    /// Transport to the TURN server.
    pub transport: TurnTransport,
}

/// Why a `turnURL` was rejected. The messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnUrlError {
    /// No `@` separating credentials from the address.
    MissingAddress,
    /// The part before the last `@` is not `user:password` with both parts non-empty.
    MissingCredentials,
    /// No `:port` after the address.
    MissingPort,
    /// The port is not a number 1-65535.
    BadPort(String),
    /// The address is a name or otherwise not an IP address.
    NotAnIpAddress(String),
    /// An IPv6 address without brackets, which makes the port ambiguous.
    UnbracketedIpv6(String),
    /// Anything after `?` other than `transport=udp|tcp|tls`.
    BadTransport(String),
}

impl fmt::Display for TurnUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TurnUrlError::MissingAddress => f.write_str("missing '@address:port'"),
            TurnUrlError::MissingCredentials => {
                f.write_str("missing 'user:password' before '@' (both must be non-empty)")
            }
            TurnUrlError::MissingPort => f.write_str("missing ':port' after the address"),
            TurnUrlError::BadPort(port) => write!(f, "port {port:?} is not a number 1-65535"),
            TurnUrlError::NotAnIpAddress(host) => write!(
                f,
                "address {host:?} is not an IP address (domain names are not supported)"
            ),
            TurnUrlError::UnbracketedIpv6(host) => write!(
                f,
                "IPv6 address {host:?} must be written in brackets, e.g. [2001:db8::1]:3478"
            ),
            TurnUrlError::BadTransport(query) => write!(
                f,
                "query {query:?} is not transport=udp, transport=tcp or transport=tls"
            ),
        }
    }
}

impl std::error::Error for TurnUrlError {}

impl FromStr for TurnUrl {
    type Err = TurnUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (userinfo, rest) = s.rsplit_once('@').ok_or(TurnUrlError::MissingAddress)?;
        let (username, password) = userinfo
            .rsplit_once(':')
            .filter(|(user, pass)| !user.is_empty() && !pass.is_empty())
            .ok_or(TurnUrlError::MissingCredentials)?;

        let (hostport, query) = match rest.split_once('?') {
            Some((hostport, query)) => (hostport, Some(query)),
            None => (rest, None),
        };
        let transport = match query {
            None => TurnTransport::Udp,
            Some(query) => parse_transport(query)?,
        };

        let (host, port) = split_host_port(hostport)?;
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(TurnUrlError::BadPort(port.to_owned())),
        };

        Ok(TurnUrl {
            username: username.to_owned(),
            password: password.to_owned(),
            host,
            port,
            transport,
        })
    }
}

fn parse_transport(query: &str) -> Result<TurnTransport, TurnUrlError> {
    let value = query
        .strip_prefix("transport=")
        .ok_or_else(|| TurnUrlError::BadTransport(query.to_owned()))?;
    match value.to_ascii_lowercase().as_str() {
        "udp" => Ok(TurnTransport::Udp),
        "tcp" => Ok(TurnTransport::Tcp),
        "tls" => Ok(TurnTransport::Tls),
        _ => Err(TurnUrlError::BadTransport(query.to_owned())),
    }
}

fn split_host_port(hostport: &str) -> Result<(IpAddr, &str), TurnUrlError> {
    if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| TurnUrlError::NotAnIpAddress(hostport.to_owned()))?;
        let ip = host
            .parse::<Ipv6Addr>()
            .map_err(|_| TurnUrlError::NotAnIpAddress(host.to_owned()))?;
        let port = after.strip_prefix(':').ok_or(TurnUrlError::MissingPort)?;
        return Ok((IpAddr::V6(ip), port));
    }
    if hostport.parse::<Ipv6Addr>().is_ok() {
        return Err(TurnUrlError::UnbracketedIpv6(hostport.to_owned()));
    }
    let (host, port) = hostport.rsplit_once(':').ok_or(TurnUrlError::MissingPort)?;
    if host.parse::<Ipv6Addr>().is_ok() || host.contains(':') {
        return Err(TurnUrlError::UnbracketedIpv6(host.to_owned()));
    }
    let ip = host
        .parse::<Ipv4Addr>()
        .map_err(|_| TurnUrlError::NotAnIpAddress(host.to_owned()))?;
    Ok((IpAddr::V4(ip), port))
}

impl TurnUrl {
    /// The server's socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// A printable form with the password replaced by `***`, for logs and status output.
    pub fn redacted(&self) -> RedactedTurnUrl<'_> {
        RedactedTurnUrl(self)
    }
}

impl fmt::Debug for TurnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TurnUrl({})", self.redacted())
    }
}

/// `Display` adapter returned by [`TurnUrl::redacted`]: `user:***@198.51.100.1:3478?transport=udp`.
pub struct RedactedTurnUrl<'a>(&'a TurnUrl);

impl fmt::Display for RedactedTurnUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{}:***@{}?transport={}",
            t.username,
            t.socket_addr(),
            t.transport
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_without_transport_as_udp() {
        let t: TurnUrl = "user:pass@198.51.100.1:3478".parse().unwrap();
        assert_eq!(t.username, "user");
        assert_eq!(t.password, "pass");
        assert_eq!(t.host, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(t.port, 3478);
        assert_eq!(t.transport, TurnTransport::Udp);
    }

    #[test]
    fn parses_each_transport() {
        for (q, want) in [
            ("udp", TurnTransport::Udp),
            ("tcp", TurnTransport::Tcp),
            ("tls", TurnTransport::Tls),
        ] {
            let t: TurnUrl = format!("u:p@127.0.0.1:5349?transport={q}").parse().unwrap();
            assert_eq!(t.transport, want);
            assert_eq!(t.port, 5349);
        }
    }

    #[test]
    fn splits_like_kms_regex_at_last_at_and_last_colon() {
        let t: TurnUrl = "1700000000:alice:p@ss:w@rd@10.0.0.1:3478".parse().unwrap();
        assert_eq!(t.username, "1700000000:alice:p@ss");
        assert_eq!(t.password, "w@rd");
        assert_eq!(t.host, "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bracketed_ipv6_is_accepted() {
        let t: TurnUrl = "u:p@[2001:db8::1]:3478?transport=tcp".parse().unwrap();
        assert_eq!(t.host, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(t.transport, TurnTransport::Tcp);
    }

    #[test]
    fn bad_urls_are_rejected_with_the_right_reason() {
        let cases: &[(&str, TurnUrlError)] = &[
            ("198.51.100.1:3478", TurnUrlError::MissingAddress),
            ("user@198.51.100.1:3478", TurnUrlError::MissingCredentials),
            (":pass@198.51.100.1:3478", TurnUrlError::MissingCredentials),
            ("user:@198.51.100.1:3478", TurnUrlError::MissingCredentials),
            ("u:p@198.51.100.1", TurnUrlError::MissingPort),
            ("u:p@198.51.100.1:0", TurnUrlError::BadPort("0".into())),
            (
                "u:p@198.51.100.1:70000",
                TurnUrlError::BadPort("70000".into()),
            ),
            (
                "u:p@198.51.100.1:+3478",
                TurnUrlError::BadPort("+3478".into()),
            ),
            (
                "u:p@turn.example.com:3478",
                TurnUrlError::NotAnIpAddress("turn.example.com".into()),
            ),
            (
                "u:p@2001:db8::1:3478",
                TurnUrlError::UnbracketedIpv6("2001:db8::1:3478".into()),
            ),
            (
                "u:p@198.51.100.1:3478?transport=sctp",
                TurnUrlError::BadTransport("transport=sctp".into()),
            ),
            (
                "u:p@198.51.100.1:3478?proto=udp",
                TurnUrlError::BadTransport("proto=udp".into()),
            ),
            ("", TurnUrlError::MissingAddress),
        ];
        for (input, want) in cases {
            assert_eq!(
                input.parse::<TurnUrl>().unwrap_err(),
                *want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn redacted_and_debug_hide_the_password() {
        let t: TurnUrl = "kurento:s3cr3tPassw0rd@198.51.100.1:3478?transport=tls"
            .parse()
            .unwrap();
        let shown = t.redacted().to_string();
        assert_eq!(shown, "kurento:***@198.51.100.1:3478?transport=tls");
        let debug = format!("{t:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("198.51.100.1:3478"), "{debug}");
    }

    #[test]
    fn errors_never_contain_the_password() {
        for input in [
            "u:s3cr3t@turn.example.com:3478",
            "u:s3cr3t@198.51.100.1:x",
            "u:s3cr3t@198.51.100.1:3478?transport=quic",
        ] {
            let err = input.parse::<TurnUrl>().unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }
}
