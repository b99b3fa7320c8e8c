//! `*.conf.ini` as KMS ships them: `key=value` lines at the top level (no section), comments starting
//! with `;` (or `#`) at the beginning of a line, values optionally in quotes.
//!
//! Sections are allowed too (`kurento.conf.ini` uses `[mediaServer.net.websocket]`); dots in section
//! and key names become levels of the tree. All values stay strings, as in KMS; the typed getters of
//! [`super::tree::ConfigTree`] convert them.

use std::path::Path;

use ini::{Ini, ParseOption};
use serde_json::{Map, Value};

use super::error::ConfigError;
use super::tree::merge_values;

/// Parses one INI configuration file into a JSON object tree of strings.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = ParseOption {
        enabled_quote: true,
        // Backslashes are literal: a password or path may contain them.
        enabled_escape: false,
        ..ParseOption::default()
    };
    let ini = Ini::load_from_str_opt(text, options).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: e.line,
        column: e.col,
        message: e.msg.into_owned(),
    })?;

    let mut root = Value::Object(Map::new());
    for (section, props) in ini.iter() {
        let mut section_value = Value::Object(Map::new());
        for (key, value) in props.iter() {
            insert_dotted(&mut section_value, key, Value::String(value.to_owned()));
        }
        match section {
            None => merge_values(&mut root, section_value),
            Some(name) => {
                let mut wrapper = Value::Object(Map::new());
                insert_dotted(&mut wrapper, name, section_value);
                merge_values(&mut root, wrapper);
            }
        }
    }
    super::kurento_json::drop_commented_keys(&mut root);
    Ok(root)
}

fn insert_dotted(target: &mut Value, dotted: &str, value: Value) {
    let mut wrapped = value;
    for part in dotted.rsplit('.').filter(|p| !p.is_empty()) {
        let mut map = Map::new();
        map.insert(part.trim().to_owned(), wrapped);
        wrapped = Value::Object(map);
    }
    merge_values(target, wrapped);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn top_level_keys_comments_and_quotes() {
        let text = ";; STUN server\n\
                    ;stunServerAddress=198.51.100.1\n\
                    # hash comment\n\
                    stunServerPort = 3478\n\
                    turnURL=\"user:p;a#ss@198.51.100.1:3478?transport=tcp\"\n\
                    networkInterfaces='eth0, eth1'\n\
                    qos-dscp=AUDIO_HIGH\n\
                    pemCertificateRSA=C:\\certs\\a.pem\n";
        let v = parse(Path::new("WebRtcEndpoint.conf.ini"), text).unwrap();
        assert_eq!(
            v,
            json!({
                "stunServerPort": "3478",
                "turnURL": "user:p;a#ss@198.51.100.1:3478?transport=tcp",
                "networkInterfaces": "eth0, eth1",
                "qos-dscp": "AUDIO_HIGH",
                "pemCertificateRSA": "C:\\certs\\a.pem",
            })
        );
    }

    #[test]
    fn dotted_sections_become_nested_objects() {
        let text = "[mediaServer.net.websocket]\n; address=0.0.0.0\nport=8888\npath=kurento\n\
                    [mediaServer.resources]\ngarbageCollectorPeriod=240\n";
        let v = parse(Path::new("kurento.conf.ini"), text).unwrap();
        assert_eq!(
            v,
            json!({"mediaServer": {
                "net": {"websocket": {"port": "8888", "path": "kurento"}},
                "resources": {"garbageCollectorPeriod": "240"}
            }})
        );
    }

    #[test]
    fn later_duplicate_key_wins() {
        let v = parse(Path::new("a.conf.ini"), "mtu=1000\nmtu=1400\n").unwrap();
        assert_eq!(v, json!({"mtu": "1400"}));
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = parse(
            Path::new("/etc/kurento/modules/kurento/BaseRtpEndpoint.conf.ini"),
            "minPort=1\n[unterminated\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("/etc/kurento/modules/kurento/BaseRtpEndpoint.conf.ini: line "),
            "{msg}"
        );
    }
}
