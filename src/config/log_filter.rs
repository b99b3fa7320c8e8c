//! Log verbosity from the variables KMS users already set.
//!
//! `RUST_LOG` (a tracing-subscriber `EnvFilter` directive string) wins when set. Otherwise `GST_DEBUG`
//! is translated: it is a comma-separated list of `LEVEL` (default threshold) and `pattern:LEVEL`
//! items, where LEVEL is a number 0-9 or a GStreamer level name and pattern is a glob over GStreamer
//! category names. Levels: 0/none → off, 1/ERROR → error, 2/WARNING → warn, 3/FIXME and 4/INFO → info,
//! 5/DEBUG → debug, 6/LOG and above → trace. Category patterns map to our tracing targets:
//!
//! | GStreamer pattern contains / starts with                 | our target                         |
//! |----------------------------------------------------------|------------------------------------|
//! | `*` alone                                                | the default level                  |
//! | `websocket`, `transport`, `servermethods`, `jsonrpc`     | `kurento_media_server::rpc`        |
//! | `webrtc`, `rtp`, `ice`, `dtls`, `srtp`, `sdp`, `nice`, `stun`, `turn` | `kurento_media_server::webrtc` |
//! | starts with `kurento` or `kms`                           | `kurento_media_server`             |
//! | anything else (GStreamer internals)                      | ignored                            |
//!
//! When several patterns land on one target the most verbose wins (they named different GStreamer
//! categories, and the user wanted to see each at its level). With neither variable set we use the
//! translation of the Docker image's default `GST_DEBUG` (`2,Kurento*:4,kms*:4,sdp*:4,webrtc*:4,...`),
//! i.e. warnings from dependencies and info from us.

/// The `GST_DEBUG` value the official Docker image sets when the variable is empty.
pub const DOCKER_DEFAULT_GST_DEBUG: &str = "2,Kurento*:4,kms*:4,sdp*:4,webrtc*:4,*rtpendpoint:4,rtp*handler:4,rtpsynchronizer:4,agnosticbin:4";

const CRATE: &str = "kurento_media_server";
const RPC: &str = "kurento_media_server::rpc";
const WEBRTC: &str = "kurento_media_server::webrtc";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    fn from_gst(text: &str) -> Option<Level> {
        let text = text.trim();
        let number = match text.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match text.to_ascii_uppercase().as_str() {
                "NONE" => 0,
                "ERROR" => 1,
                "WARNING" | "WARN" => 2,
                "FIXME" => 3,
                "INFO" => 4,
                "DEBUG" => 5,
                "LOG" => 6,
                "TRACE" => 7,
                "MEMDUMP" => 9,
                _ => return None,
            },
        };
        Some(match number {
            0 => Level::Off,
            1 => Level::Error,
            2 => Level::Warn,
            3 | 4 => Level::Info,
            5 => Level::Debug,
            _ => Level::Trace,
        })
    }
}

fn target_for(pattern: &str) -> Option<Option<&'static str>> {
    let p = pattern.trim().to_ascii_lowercase();
    if p.is_empty() {
        return None;
    }
    if p.chars().all(|c| c == '*') {
        return Some(None);
    }
    let has = |needles: &[&str]| needles.iter().any(|n| p.contains(n));
    if has(&["websocket", "transport", "servermethods", "jsonrpc"]) {
        Some(Some(RPC))
    } else if has(&[
        "webrtc", "rtp", "ice", "dtls", "srtp", "sdp", "nice", "stun", "turn",
    ]) {
        Some(Some(WEBRTC))
    } else if p.starts_with("kurento") || p.starts_with("kms") {
        Some(Some(CRATE))
    } else {
        None
    }
}

/// Translates a `GST_DEBUG` value into an `EnvFilter` directive string. Unparsable items are skipped,
/// as GStreamer does.
pub fn gst_debug_to_filter(gst_debug: &str) -> String {
    let mut default = Level::Info;
    let mut targets: Vec<(&'static str, Level)> = Vec::new();
    for item in gst_debug.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (pattern, level) = match item.rsplit_once(':') {
            Some((pattern, level)) => (Some(pattern), level),
            None => (None, item),
        };
        let Some(level) = Level::from_gst(level) else {
            continue;
        };
        match pattern.map(target_for) {
            None | Some(Some(None)) => default = level,
            Some(Some(Some(target))) => match targets.iter_mut().find(|(t, _)| *t == target) {
                Some((_, existing)) => *existing = (*existing).max(level),
                None => targets.push((target, level)),
            },
            Some(None) => {}
        }
    }
    // EnvFilter prefers the most specific target regardless of order, so the crate-wide directive does
    // not mask the module ones; sorting only makes the output stable.
    targets.sort();
    let mut out = default.as_str().to_owned();
    for (target, level) in targets {
        out.push(',');
        out.push_str(target);
        out.push('=');
        out.push_str(level.as_str());
    }
    out
}

/// The tracing-subscriber `EnvFilter` directives to use: `RUST_LOG` if set, else `GST_DEBUG`
/// translated, else the Docker default. `env` is `std::env::var(..).ok()` in production.
pub fn log_filter(env: &dyn Fn(&str) -> Option<String>) -> String {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(rust_log) = set("RUST_LOG") {
        return rust_log;
    }
    match set("GST_DEBUG") {
        Some(gst) => gst_debug_to_filter(&gst),
        None => gst_debug_to_filter(DOCKER_DEFAULT_GST_DEBUG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn bare_levels_map_to_default() {
        for (gst, want) in [
            ("0", "off"),
            ("1", "error"),
            ("2", "warn"),
            ("3", "info"),
            ("4", "info"),
            ("5", "debug"),
            ("6", "trace"),
            ("9", "trace"),
            ("WARNING", "warn"),
            ("debug", "debug"),
        ] {
            assert_eq!(gst_debug_to_filter(gst), want, "GST_DEBUG={gst}");
        }
    }

    #[test]
    fn star_pattern_sets_default_and_later_default_wins() {
        assert_eq!(gst_debug_to_filter("*:2"), "warn");
        assert_eq!(gst_debug_to_filter("3,*:5"), "debug");
    }

    #[test]
    fn kurento_categories_map_to_our_targets() {
        assert_eq!(
            gst_debug_to_filter("3,Kurento*:5,kms*:4,webrtc*:6"),
            "info,kurento_media_server=debug,kurento_media_server::webrtc=trace"
        );
        assert_eq!(
            gst_debug_to_filter("1,KurentoWebSocketTransport:5,*ice*:5,*dtls*:2,sdp*:4"),
            "error,kurento_media_server::rpc=debug,kurento_media_server::webrtc=debug"
        );
    }

    #[test]
    fn gstreamer_internal_categories_and_garbage_are_ignored() {
        assert_eq!(
            gst_debug_to_filter("2,GST_PADS:6,basesrc:5,agnosticbin:4,nonsense,foo:bar"),
            "warn"
        );
    }

    #[test]
    fn rust_log_wins_then_gst_debug_then_docker_default() {
        let both = env_of(&[("RUST_LOG", "trace,str0m=off"), ("GST_DEBUG", "1")]);
        assert_eq!(log_filter(&both), "trace,str0m=off");
        let gst = env_of(&[("GST_DEBUG", "5")]);
        assert_eq!(log_filter(&gst), "debug");
        let empty = env_of(&[("RUST_LOG", ""), ("GST_DEBUG", " ")]);
        let default = log_filter(&empty);
        assert_eq!(
            default,
            "warn,kurento_media_server=info,kurento_media_server::webrtc=info"
        );
        assert_eq!(log_filter(&env_of(&[])), default);
    }

    #[test]
    fn every_output_is_a_valid_env_filter() {
        for gst in [
            "3,Kurento*:5,kms*:4,webrtc*:6",
            "*:2",
            "0",
            DOCKER_DEFAULT_GST_DEBUG,
        ] {
            let directives = gst_debug_to_filter(gst);
            tracing_subscriber::EnvFilter::try_new(&directives)
                .unwrap_or_else(|e| panic!("{directives}: {e}"));
        }
    }
}
