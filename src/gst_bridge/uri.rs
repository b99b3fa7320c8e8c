//! URIs of players and recorders, checked before GStreamer sees them: what a Kurento application
//! passes is untrusted input.

use std::path::PathBuf;

/// Where a player reads or a recorder writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// http:// or https://, kept as given (GStreamer's HTTP elements parse it).
    Http(String),
    /// rtsp://, rtsps://, rtspt://...
    Rtsp(String),
}

impl Location {
    /// The URI GStreamer is given.
    pub fn to_uri(&self) -> String {
        match self {
            Location::File(p) => {
                let mut s = String::from("file://");
                for b in p.to_string_lossy().bytes() {
                    if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
                        s.push(char::from(b));
                    } else {
                        s.push_str(&format!("%{b:02X}"));
                    }
                }
                s
            }
            Location::Http(u) | Location::Rtsp(u) => u.clone(),
        }
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Parses a Kurento URI. One without a scheme is relative to `default_path` (KMS's
/// `UriEndpoint.conf.ini` `defaultPath`, `file:///var/lib/kurento/` unless configured).
pub fn parse(uri: &str, default_path: &str) -> Result<Location, String> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err("the URI is empty".into());
    }
    if uri.chars().any(char::is_control) {
        return Err("the URI contains control characters".into());
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        if default_path.contains("://") {
            let base = default_path.trim_end_matches('/');
            return parse(&format!("{base}/{}", uri.trim_start_matches('/')), "");
        }
        return Err(format!("'{uri}' is not a URI (no scheme)"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            // file:///abs/path or file://localhost/abs/path
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(format!("'{uri}': a file URI needs an absolute path"));
            }
            let path = path.split(['?', '#']).next().unwrap_or(path);
            let bytes =
                percent_decode(path).ok_or_else(|| format!("'{uri}': bad percent-encoding"))?;
            if bytes.contains(&0) || bytes.len() <= 1 {
                return Err(format!("'{uri}': no file name"));
            }
            let path =
                String::from_utf8(bytes).map_err(|_| format!("'{uri}': the path is not UTF-8"))?;
            Ok(Location::File(PathBuf::from(path)))
        }
        "http" | "https" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() {
                return Err(format!("'{uri}' names no host"));
            }
            Ok(Location::Http(uri.to_string()))
        }
        "rtsp" | "rtsps" | "rtspt" | "rtsph" | "rtspu" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() {
                return Err(format!("'{uri}' names no host"));
            }
            Ok(Location::Rtsp(uri.to_string()))
        }
        other => Err(format!("the URI scheme '{other}' is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "file:///var/lib/kurento/";

    #[test]
    fn uris_as_kurento_applications_write_them() {
        let table: &[(&str, Result<Location, ()>)] = &[
            (
                "file:///tmp/a.webm",
                Ok(Location::File("/tmp/a.webm".into())),
            ),
            (
                "FILE:///tmp/a%20b.webm",
                Ok(Location::File("/tmp/a b.webm".into())),
            ),
            (
                "file://localhost/tmp/x.mp4",
                Ok(Location::File("/tmp/x.mp4".into())),
            ),
            (
                "rec.webm",
                Ok(Location::File("/var/lib/kurento/rec.webm".into())),
            ),
            (
                "http://127.0.0.1:8080/v.webm",
                Ok(Location::Http("http://127.0.0.1:8080/v.webm".into())),
            ),
            (
                "rtsp://127.0.0.1:8554/cam",
                Ok(Location::Rtsp("rtsp://127.0.0.1:8554/cam".into())),
            ),
            // Hostile or broken input: an error, never a panic or a surprising path.
            ("", Err(())),
            ("   ", Err(())),
            ("file://", Err(())),
            ("file:///", Err(())),
            ("file://relative/path", Err(())),
            ("file:///tmp/%zz", Err(())),
            ("file:///tmp/%", Err(())),
            ("file:///tmp/a%00b", Err(())),
            ("file:///tmp/%ff%fe", Err(())),
            ("file:///tmp/a\nb", Err(())),
            ("http://", Err(())),
            ("http:///path", Err(())),
            ("rtsp://", Err(())),
            ("gopher://host/x", Err(())),
            ("javascript://x", Err(())),
        ];
        for (uri, want) in table {
            let got = parse(uri, DEFAULT).map_err(|_| ());
            assert_eq!(&got, want, "{uri:?}");
        }
        assert!(parse("x.webm", "").is_err());
    }

    #[test]
    fn file_locations_round_trip_through_gstreamer_uris() {
        for p in ["/tmp/a b#c?.webm", "/tmp/ü.mp4", "/tmp/plain.mkv"] {
            let l = Location::File(p.into());
            assert_eq!(parse(&l.to_uri(), "").ok(), Some(l), "{p}");
        }
    }
}
