//! Loading tests against real files in temporary directories.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use clap::Parser;
use serde_json::json;
use tempfile::TempDir;

use super::*;

/// KMS 7.x `kurento.conf.json` as shipped (repeated "//" keys, "//"-prefixed disabled settings).
const KMS7_CONF_JSON: &str = r#"{
  "mediaServer": {
    "resources": {
      "//": "KMS will raise an error when reaching this usage% of Kernel resources",
      "//": "Applies to allowed number of threads, and number of open file descriptors",
      "//": "Default: 0.8 (80%)",
      "//exceptionLimit": "0.8",
      "//": "KMS process will be automatically killed when there are no sessions but this % of resources are in use",
      "//killLimit": "0.7",
      "//": "Garbage collector period, in seconds",
      "//": "Default: 240 (4 minutes)",
      "garbageCollectorPeriod": 240,
      "//": "Whether to disable the RPC API request cache, for memory constrained environments",
      "//": "Default: false",
      "disableRequestCache": false
    },
    "net": {
      "websocket": {
        "//": "Address to listen on.",
        "//": "Default: [::] (IPv6) or 0.0.0.0 (IPv4)",
        "//address": "0.0.0.0",
        "//": "Default: true",
        "//ipv6": false,
        "//": "Set to 0 or comment out the line to disable WebSocket access",
        "port": 8888,
        "secure": {
          "//": "Secure WebSocket port where API clients connect to control KMS",
          "//port": 8433,
          "//": "Path (absolute or relative to this config file) to the",
          "//": "concatenated certificate (chain) file(s) + private key, in PEM format",
          "//certificate": "cert+key.pem",
          "//password": ""
        },
        "//registrar": {
          "//address": "ws://localhost:9090",
          "//localAddress": "localhost"
        },
        "//": "Default: SOMAXCONN (128)",
        "//connqueue": 128,
        "path": "kurento",
        "threads": 10
      }
    }
  }
}
"#;

/// KMS 6.x `kurento.conf.json`: real comments and quoted numbers.
const KMS6_CONF_JSON: &str = r#"{
  "mediaServer" : {
    "resources": {
    //  //Resources usage limit for raising an exception when an object creation is attempted
        "exceptionLimit": "0.7",
    //  // Resources usage limit for restarting the server when no objects are alive
        "killLimit": "0.6",
        // Garbage collector period in seconds
        "garbageCollectorPeriod": "120"
    },
    "net" : {
      // Uncomment just one of them
      /*
      "rabbitmq": {
        "address" : "127.0.0.1",
        "port" : 5672
      }
      */
      "websocket": {
        "port": "8889",
        //"secure": {
        //  "port": 8433,
        //  "certificate": "defaultCertificate.pem",
        //  "password": ""
        //},
        "path": "/kurento",
        "threads": 4,
        "ipv6": "false"
      }
    }
  }
}
"#;

/// KMS 7.x `SdpEndpoint.conf.json`.
const KMS7_SDP_JSON: &str = r#"{
    "numAudioMedias": 1,
    "numVideoMedias": 1,
    "audioCodecs": [
        {
            "name": "opus/48000/2",
            "//": "Next is an example about how a codec can be configured.",
            "//properties": { "//stereo": "1" }
        },
        { "name": "PCMU/8000" },
        { "name": "PCMA/8000" },
        { "name": "AMR/8000" }
    ],
    "videoCodecs": [
        { "name": "H265/90000" },
        { "name": "VP8/90000" },
        { "name": "H264/90000" }
    ]
}
"#;

/// A `WebRtcEndpoint.conf.ini` as an operator edits the shipped one.
const WEBRTC_INI: &str = ";; Local network interfaces used for ICE gathering.
;;
;networkInterfaces=eth0
networkInterfaces=eth0, enp0s25

;; STUN server IP address.
;stunServerAddress=198.51.100.1
stunServerAddress=203.0.113.7
stunServerPort=19302

;turnURL=user:password@198.51.100.1:3478?transport=udp
turnURL=\"kurento:t0pS3cret@203.0.113.9:3478?transport=tcp\"

# hash comments too
;pemCertificateRSA=/path/to/cert+key.pem
pemCertificateECDSA=ecdsa.pem
externalIPv4=auto
externalIPv6=2001:db8::7
iceTcp=0
qos-dscp=AUDIO_HIGH
sharedUdpPort=40123
;enable-h265=false
";

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// Loads with `args`, with the "default" main file located inside the fixture.
    fn load(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("kms").chain(args.iter().copied())).unwrap();
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_with_default(&cli, &self.path("kurento.conf.json"), &move |k| {
            map.get(k).cloned()
        })
    }
}

fn msg(result: Result<Config, ConfigError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn no_file_at_all_gives_kms_shipped_defaults() {
    let fx = Fixture::new();
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(c.conf_file, None);
    assert_eq!(c.websocket, WebSocketConfig::default());
    assert_eq!(c.websocket.port, Some(8888));
    assert_eq!(c.websocket.path, "kurento");
    assert_eq!(c.ws_listen_addr(), Some("[::]:8888".parse().unwrap()));
    assert_eq!(c.resources, ResourcesConfig::default());
    assert_eq!(c.webrtc, WebRtcConfig::default());
    assert_eq!(c.base_rtp, BaseRtpConfig::default());
    assert_eq!(c.media_element, MediaElementConfig::default());
    assert_eq!(c.sdp, SdpConfig::default());
    assert_eq!(c.modules, json!({}));
    assert_eq!(c.modules_config_paths, vec![fx.path("modules")]);
    assert_eq!(
        c.log_filter,
        "warn,kurento_media_server=info,kurento_media_server::webrtc=info"
    );
}

#[test]
fn the_start_up_summary_says_each_fact_once() {
    let fx = Fixture::new();
    let c = fx.load(&[], &[]).unwrap();
    let summary = c.startup_summary();
    let lines: Vec<&str> = summary.lines().collect();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("configuration file"), 1, "{summary}");
    assert_eq!(count("not found, using built-in defaults"), 1, "{summary}");
    assert_eq!(count("RTP ports"), 1, "{summary}");
    assert_eq!(count("log filter"), 1, "{summary}");
    assert_eq!(count("listening on"), 0, "{summary}");
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), lines.len(), "a line said twice: {summary}");
}

#[test]
fn shipped_kms7_file_is_read_with_its_comment_keys() {
    let fx = Fixture::new();
    let file = fx.write("kurento.conf.json", KMS7_CONF_JSON);
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(c.conf_file, Some(file));
    assert_eq!(c.websocket, WebSocketConfig::default());
    assert_eq!(c.resources, ResourcesConfig::default());
}

#[test]
fn kms6_file_with_real_comments_and_quoted_numbers() {
    let fx = Fixture::new();
    let file = fx.write("etc/kms6.conf.json", KMS6_CONF_JSON);
    let c = fx.load(&["-f", file.to_str().unwrap()], &[]).unwrap();
    assert_eq!(c.websocket.port, Some(8889));
    assert_eq!(c.websocket.path, "kurento");
    assert_eq!(c.websocket.threads, 4);
    assert!(!c.websocket.ipv6);
    assert_eq!(c.ws_listen_addr(), Some("0.0.0.0:8889".parse().unwrap()));
    assert_eq!(c.resources.exception_limit, 0.7);
    assert_eq!(c.resources.kill_limit, Some(0.6));
    assert_eq!(c.resources.garbage_collector_period.as_secs(), 120);
    assert_eq!(c.config_dir, fx.path("etc"));
    assert_eq!(c.modules_config_paths, vec![fx.path("etc/modules")]);
}

#[test]
fn explicitly_named_missing_file_is_an_error() {
    let fx = Fixture::new();
    let missing = fx.path("nope/kurento.conf.json");
    let err = msg(fx.load(&["-f", missing.to_str().unwrap()], &[]));
    assert!(
        err.starts_with(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
}

#[test]
fn file_without_port_disables_ws_and_without_any_listener_fails() {
    let fx = Fixture::new();
    fx.write(
        "kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {"//port": 8888, "path": "kurento"}}}}"#,
    );
    let err = msg(fx.load(&[], &[]));
    assert!(err.contains("neither port nor secure.port"), "{err}");

    fx.write(
        "kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {"port": 0,
            "secure": {"port": 8433, "certificate": "/abs/cert.pem"}}}}}"#,
    );
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(c.websocket.port, None);
    assert_eq!(c.ws_listen_addr(), None);
    assert_eq!(c.wss_listen_addr(), Some("[::]:8433".parse().unwrap()));
}

#[test]
fn metrics_are_off_by_default_local_by_default_and_set_by_file_or_env() {
    let fx = Fixture::new();
    fx.write("kurento.conf.json", KMS7_CONF_JSON);
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(c.metrics.port, None);
    assert_eq!(
        c.metrics.address,
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );

    fx.write(
        "kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {"port": 8888}},
            "metrics": {"port": 9464, "address": "0.0.0.0"}}}"#,
    );
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(c.metrics.port, Some(9464));
    assert_eq!(
        c.metrics.address,
        "0.0.0.0".parse::<std::net::IpAddr>().unwrap()
    );
    let c = fx
        .load(
            &[],
            &[("KMS_METRICS_PORT", "9100"), ("KMS_METRICS_ADDRESS", "::1")],
        )
        .unwrap();
    assert_eq!(c.metrics.port, Some(9100));
    assert_eq!(
        c.metrics.address,
        "::1".parse::<std::net::IpAddr>().unwrap()
    );
    let c = fx.load(&[], &[("KMS_METRICS_PORT", "0")]).unwrap();
    assert_eq!(c.metrics.port, None, "0 turns the listener off");

    let err = msg(fx.load(&[], &[("KMS_METRICS_PORT", "http")]));
    assert!(err.contains("KMS_METRICS_PORT"), "{err}");
    let err = msg(fx.load(&[], &[("KMS_METRICS_ADDRESS", "localhost:1")]));
    assert!(err.contains("KMS_METRICS_ADDRESS"), "{err}");
}

#[test]
fn secure_certificate_relative_path_resolves_against_config_dir() {
    let fx = Fixture::new();
    fx.write(
        "conf/kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {
            "port": 8888, "address": "127.0.0.1", "connqueue": 64,
            "secure": {"port": 8433, "certificate": "cert+key.pem", "password": "hunter2"},
            "registrar": {"address": "ws://localhost:9090", "localAddress": "localhost"}
        }}}}"#,
    );
    let file = fx.path("conf/kurento.conf.json");
    let c = fx.load(&["-f", file.to_str().unwrap()], &[]).unwrap();
    let secure = c.websocket.secure.clone().unwrap();
    assert_eq!(secure.port, 8433);
    assert_eq!(secure.certificate, fx.path("conf/cert+key.pem"));
    assert_eq!(secure.password.as_deref(), Some("hunter2"));
    assert_eq!(c.websocket.address, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(c.websocket.connqueue, Some(64));
    assert_eq!(
        c.websocket.registrar,
        Some(RegistrarConfig {
            address: "ws://localhost:9090".into(),
            local_address: Some("localhost".into())
        })
    );
    assert_eq!(c.wss_listen_addr(), Some("127.0.0.1:8433".parse().unwrap()));
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!c.startup_summary().contains("hunter2"));

    fx.write(
        "conf/kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {"port": 8888,
            "secure": {"port": 8433, "certificate": "/etc/ssl/kms.pem", "password": ""}}}}}"#,
    );
    let c = fx.load(&["-f", file.to_str().unwrap()], &[]).unwrap();
    let secure = c.websocket.secure.unwrap();
    assert_eq!(secure.certificate, PathBuf::from("/etc/ssl/kms.pem"));
    assert_eq!(secure.password, None);
}

#[test]
fn secure_port_without_certificate_is_named() {
    let fx = Fixture::new();
    let file = fx.write(
        "kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {"port": 8888, "secure": {"port": 8433}}}}}"#,
    );
    let err = msg(fx.load(&[], &[]));
    assert_eq!(
        err,
        format!(
            "{}: mediaServer.net.websocket.secure.certificate: required when mediaServer.net.websocket.secure.port is set",
            file.display()
        )
    );
}

#[test]
fn bad_main_file_values_name_file_and_key() {
    let fx = Fixture::new();
    let file = fx.write(
        "kurento.conf.json",
        r#"{"mediaServer": {"net": {"websocket": {"port": "abc"}}}}"#,
    );
    let err = msg(fx.load(&[], &[]));
    assert_eq!(
        err,
        format!(
            "{}: mediaServer.net.websocket.port: expected a port number 0-65535, got \"abc\"",
            file.display()
        )
    );

    let cases = [
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": 70000}}}}"#,
            "mediaServer.net.websocket.port: expected a port number",
        ),
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": 1, "address": "localhost"}}}}"#,
            "mediaServer.net.websocket.address: expected an IP address, got \"localhost\"",
        ),
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": 1, "ipv6": "yes"}}}}"#,
            "mediaServer.net.websocket.ipv6: expected true/false or 1/0",
        ),
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": 1, "threads": -2}}}}"#,
            "mediaServer.net.websocket.threads: expected an integer",
        ),
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": 1}}, "resources": {"exceptionLimit": "lots"}}}"#,
            "mediaServer.resources.exceptionLimit: expected a non-negative number",
        ),
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": 1}}, "resources": {"garbageCollectorPeriod": 0}}}"#,
            "mediaServer.resources.garbageCollectorPeriod: expected an integer 1-",
        ),
        (
            r#"{"mediaServer": {"net": {"websocket": {"port": {"a": 1}}}}}"#,
            "mediaServer.net.websocket.port: expected a port number 0-65535, got an object",
        ),
    ];
    for (text, want) in cases {
        fs::write(&file, text).unwrap();
        let err = msg(fx.load(&[], &[]));
        assert!(
            err.starts_with(&format!("{}: {want}", file.display())),
            "{text}\n  got: {err}"
        );
    }
}

#[test]
fn invalid_json_reports_file_line_and_column() {
    let fx = Fixture::new();
    let file = fx.write(
        "kurento.conf.json",
        "{\n  \"mediaServer\": {\n    \"net\": { \"websocket\": { \"port\": 8888, } }\n  }\n}\n",
    );
    let err = fx.load(&[], &[]).unwrap_err();
    match &err {
        ConfigError::Syntax { path, line, .. } => {
            assert_eq!(path, &file);
            assert_eq!(*line, 3);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with(&format!("{}: line 3, column ", file.display())));
}

#[test]
fn main_file_in_ini_format_as_shipped() {
    let fx = Fixture::new();
    let file = fx.write(
        "kurento.conf.ini",
        "[mediaServer.resources]\n; exceptionLimit=0.8\ngarbageCollectorPeriod=60\n\n\
         [mediaServer.net.websocket]\n; address=0.0.0.0\nport=9999\npath=kurento\nthreads=10\n\n\
         ; [mediaServer.net.websocket.secure]\n; port=8433\n",
    );
    let c = fx
        .load(&["--conf-file", file.to_str().unwrap()], &[])
        .unwrap();
    assert_eq!(c.websocket.port, Some(9999));
    assert_eq!(c.resources.garbage_collector_period.as_secs(), 60);
    assert_eq!(c.websocket.secure, None);
}

#[test]
fn unsupported_main_file_format() {
    let fx = Fixture::new();
    let file = fx.write("kurento.conf.xml", "<config/>");
    let err = msg(fx.load(&["-f", file.to_str().unwrap()], &[]));
    assert!(err.contains("unsupported configuration format"), "{err}");
}

fn write_stock_modules(fx: &Fixture) {
    fx.write("modules/kurento/WebRtcEndpoint.conf.ini", WEBRTC_INI);
    fx.write(
        "modules/kurento/BaseRtpEndpoint.conf.ini",
        ";; Port range for incoming RTP streams.\n;minPort=1024\nminPort=40000\nmaxPort = 40100\n;mtu=1200\nmtu=1400\n",
    );
    fx.write(
        "modules/kurento/MediaElement.conf.ini",
        ";encoderBitrate=300000\nencoderBitrate=500000\nminEncoderBitrate=100000\nmaxEncoderBitrate=2000000\n",
    );
    fx.write("modules/kurento/SdpEndpoint.conf.json", KMS7_SDP_JSON);
    fx.write(
        "modules/kurento/UriEndpoint.conf.ini",
        "defaultPath=file:///var/lib/kurento/\n",
    );
    fx.write(
        "modules/acme/deep/FancyFilter.conf.json",
        r#"{"//": "comment", "threshold": 3, "nested": {"k": "v"}}"#,
    );
    fx.write("modules/kurento/README.txt", "not a config file");
}

#[test]
fn module_files_are_merged_at_their_subdirectory_path() {
    let fx = Fixture::new();
    fx.write("kurento.conf.json", KMS7_CONF_JSON);
    write_stock_modules(&fx);
    let c = fx.load(&[], &[]).unwrap();

    assert_eq!(
        c.webrtc.network_interfaces,
        Some(vec!["eth0".to_owned(), "enp0s25".to_owned()])
    );
    assert_eq!(
        c.webrtc.stun_server_address,
        Some("203.0.113.7".parse().unwrap())
    );
    assert_eq!(c.webrtc.stun_server_port, 19302);
    assert_eq!(
        c.webrtc.turn_url.as_deref(),
        Some("kurento:t0pS3cret@203.0.113.9:3478?transport=tcp")
    );
    let turn = c.webrtc.turn.clone().unwrap();
    assert_eq!(
        (
            turn.username.as_str(),
            turn.password.as_str(),
            turn.port,
            turn.transport
        ),
        ("kurento", "t0pS3cret", 3478, TurnTransport::Tcp)
    );
    assert_eq!(c.webrtc.pem_certificate_rsa, None);
    assert_eq!(
        c.webrtc.pem_certificate_ecdsa,
        Some(fx.path("modules/kurento/ecdsa.pem"))
    );
    assert_eq!(c.webrtc.external_ipv4, Some(ExternalAddress::Auto));
    assert_eq!(
        c.webrtc.external_ipv6,
        Some(ExternalAddress::Ip("2001:db8::7".parse().unwrap()))
    );
    assert!(!c.webrtc.ice_tcp);
    assert_eq!(c.webrtc.qos_dscp.as_deref(), Some("AUDIO_HIGH"));
    assert_eq!(c.webrtc.shared_udp_port, Some(40123));

    assert_eq!(
        c.base_rtp,
        BaseRtpConfig {
            min_port: 40000,
            max_port: 40100,
            mtu: 1400
        }
    );
    assert_eq!(
        c.media_element,
        MediaElementConfig {
            encoder_bitrate: 500_000,
            min_encoder_bitrate: 100_000,
            max_encoder_bitrate: 2_000_000
        }
    );
    assert_eq!(
        c.sdp.audio_codecs,
        ["opus/48000/2", "PCMU/8000", "PCMA/8000", "AMR/8000"]
    );
    assert_eq!(
        c.sdp.video_codecs,
        ["H265/90000", "VP8/90000", "H264/90000"]
    );

    assert_eq!(
        c.module_value("kurento.UriEndpoint.defaultPath"),
        Some(&json!("file:///var/lib/kurento/"))
    );
    assert_eq!(
        c.module_value("acme.deep.FancyFilter.threshold"),
        Some(&json!(3))
    );
    assert_eq!(
        c.module_value("acme.deep.FancyFilter.nested.k"),
        Some(&json!("v"))
    );
    assert_eq!(c.module_value("acme.deep.FancyFilter.//"), None);
    assert_eq!(
        c.module_value("kurento.WebRtcEndpoint.configPath"),
        Some(&json!(fx.path("modules/kurento").to_string_lossy()))
    );
    assert_eq!(c.module_value("kurento.README"), None);

    // The TURN password must not show up in debug output or the start-up summary.
    let debug = format!("{c:?}");
    assert!(!debug.contains("t0pS3cret"), "{debug}");
    assert!(debug.contains("kurento:***@203.0.113.9:3478"), "{debug}");
    let summary = c.startup_summary();
    assert!(!summary.contains("t0pS3cret"), "{summary}");
    // The server says where it listens once it has bound the socket, not the configuration.
    assert!(!summary.contains("listening on"), "{summary}");
    assert!(
        summary.contains("TURN server kurento:***@203.0.113.9:3478?transport=tcp"),
        "{summary}"
    );
}

#[test]
fn several_module_config_paths_later_wins() {
    let fx = Fixture::new();
    fx.write(
        "a/kurento/BaseRtpEndpoint.conf.ini",
        "minPort=1000\nmaxPort=2000\n",
    );
    fx.write("b/kurento/BaseRtpEndpoint.conf.ini", "maxPort=3000\n");
    let paths = format!("{}:{}", fx.path("a").display(), fx.path("b").display());
    let c = fx.load(&["-c", &paths], &[]).unwrap();
    assert_eq!((c.base_rtp.min_port, c.base_rtp.max_port), (1000, 3000));
    assert_eq!(c.modules_config_paths, vec![fx.path("a"), fx.path("b")]);
}

#[test]
fn deprecated_pem_certificate_means_rsa_and_relative_paths_resolve_to_module_dir() {
    let fx = Fixture::new();
    fx.write(
        "modules/kurento/WebRtcEndpoint.conf.ini",
        "pemCertificate=certs/rsa.pem\n",
    );
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(
        c.webrtc.pem_certificate_rsa,
        Some(fx.path("modules/kurento/certs/rsa.pem"))
    );

    fx.write(
        "modules/kurento/WebRtcEndpoint.conf.ini",
        "pemCertificate=/old.pem\npemCertificateRSA=/new.pem\n",
    );
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(
        c.webrtc.pem_certificate_rsa,
        Some(PathBuf::from("/new.pem"))
    );
}

#[test]
fn docker_env_vars_override_module_files() {
    let fx = Fixture::new();
    write_stock_modules(&fx);
    let c = fx
        .load(
            &[],
            &[
                ("KMS_MIN_PORT", "50000"),
                ("KMS_MAX_PORT", "50999"),
                ("KMS_MTU", "1300"),
                ("KMS_EXTERNAL_IPV4", "198.51.100.4"),
                ("KMS_EXTERNAL_IPV6", "auto"),
                ("KMS_EXTERNAL_ADDRESS", "198.51.100.5"),
                ("KMS_NETWORK_INTERFACES", "ens5"),
                ("KMS_ICE_TCP", "1"),
                ("KMS_SHARED_UDP_PORT", "40200"),
                ("KMS_STUN_IP", "192.0.2.1"),
                ("KMS_STUN_PORT", "3479"),
                ("KMS_TURN_URL", "u:p@192.0.2.2:3478"),
                ("KMS_PEM_CERTIFICATE_RSA", "/certs/rsa.pem"),
                ("KMS_PEM_CERTIFICATE_ECDSA", "/certs/ecdsa.pem"),
                ("GST_DEBUG", "3,Kurento*:5"),
            ],
        )
        .unwrap();
    assert_eq!(
        c.base_rtp,
        BaseRtpConfig {
            min_port: 50000,
            max_port: 50999,
            mtu: 1300
        }
    );
    assert_eq!(
        c.webrtc.external_ipv4,
        Some(ExternalAddress::Ip("198.51.100.4".parse().unwrap()))
    );
    assert_eq!(c.webrtc.external_ipv6, Some(ExternalAddress::Auto));
    assert_eq!(
        c.webrtc.external_address,
        Some(ExternalAddress::Ip("198.51.100.5".parse().unwrap()))
    );
    assert_eq!(c.webrtc.network_interfaces, Some(vec!["ens5".to_owned()]));
    assert!(c.webrtc.ice_tcp);
    assert_eq!(c.webrtc.shared_udp_port, Some(40200));
    assert_eq!(
        c.webrtc.stun_server_address,
        Some("192.0.2.1".parse().unwrap())
    );
    assert_eq!(c.webrtc.stun_server_port, 3479);
    assert_eq!(c.webrtc.turn_url.as_deref(), Some("u:p@192.0.2.2:3478"));
    assert_eq!(
        c.webrtc.turn.as_ref().unwrap().transport,
        TurnTransport::Udp
    );
    assert_eq!(
        c.webrtc.pem_certificate_rsa,
        Some(PathBuf::from("/certs/rsa.pem"))
    );
    assert_eq!(
        c.webrtc.pem_certificate_ecdsa,
        Some(PathBuf::from("/certs/ecdsa.pem"))
    );
    assert_eq!(c.log_filter, "info,kurento_media_server=debug");
    // The module tree reflects the override, as the Docker entrypoint's file edit would.
    assert_eq!(
        c.module_value("kurento.BaseRtpEndpoint.minPort"),
        Some(&json!("50000"))
    );
}

#[test]
fn stun_env_vars_apply_only_when_both_are_set() {
    let fx = Fixture::new();
    fx.write(
        "modules/kurento/WebRtcEndpoint.conf.ini",
        "stunServerAddress=203.0.113.7\nstunServerPort=19302\n",
    );
    for env in [
        vec![("KMS_STUN_IP", "192.0.2.1")],
        vec![("KMS_STUN_PORT", "3479")],
        vec![("KMS_STUN_IP", "192.0.2.1"), ("KMS_STUN_PORT", "")],
    ] {
        let c = fx.load(&[], &env).unwrap();
        assert_eq!(
            c.webrtc.stun_server_address,
            Some("203.0.113.7".parse().unwrap()),
            "{env:?}"
        );
        assert_eq!(c.webrtc.stun_server_port, 19302, "{env:?}");
    }
    let c = fx
        .load(
            &[],
            &[("KMS_STUN_IP", "192.0.2.1"), ("KMS_STUN_PORT", "3479")],
        )
        .unwrap();
    assert_eq!(
        c.webrtc.stun_server_address,
        Some("192.0.2.1".parse().unwrap())
    );
    assert_eq!(c.webrtc.stun_server_port, 3479);
}

#[test]
fn empty_env_vars_are_ignored() {
    let fx = Fixture::new();
    let c = fx
        .load(&[], &[("KMS_MIN_PORT", ""), ("KMS_TURN_URL", " ")])
        .unwrap();
    assert_eq!(c.base_rtp.min_port, 1024);
    assert_eq!(c.webrtc.turn, None);
}

#[test]
fn bad_env_values_name_the_variable() {
    let fx = Fixture::new();
    assert_eq!(
        msg(fx.load(&[], &[("KMS_MIN_PORT", "abc")])),
        "environment variable KMS_MIN_PORT: minPort: expected an integer 0-65535, got \"abc\""
    );
    assert_eq!(
        msg(fx.load(&[], &[("KMS_ICE_TCP", "yes")])),
        "environment variable KMS_ICE_TCP: iceTcp: expected true/false or 1/0, got \"yes\""
    );
    let err = msg(fx.load(
        &[],
        &[("KMS_TURN_URL", "user:s3cret@turn.example.com:3478")],
    ));
    assert!(
        err.starts_with("environment variable KMS_TURN_URL: turnURL: invalid TURN URL: address \"turn.example.com\""),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let err = msg(fx.load(&[], &[("KMS_MIN_PORT", "6000"), ("KMS_MAX_PORT", "5000")]));
    assert_eq!(
        err,
        "minPort (6000, from environment variable KMS_MIN_PORT) is greater than maxPort (5000, from environment variable KMS_MAX_PORT)"
    );
}

#[test]
fn bad_module_values_name_file_and_key() {
    let fx = Fixture::new();
    let base_rtp = fx.write("modules/kurento/BaseRtpEndpoint.conf.ini", "minPort=abc\n");
    assert_eq!(
        msg(fx.load(&[], &[])),
        format!(
            "{}: minPort: expected an integer 0-65535, got \"abc\"",
            base_rtp.display()
        )
    );
    fs::write(&base_rtp, "minPort=6000\nmaxPort=5000\n").unwrap();
    assert_eq!(
        msg(fx.load(&[], &[])),
        format!(
            "{}: minPort (6000) is greater than maxPort (5000)",
            base_rtp.display()
        )
    );
    fs::write(&base_rtp, "mtu=0\n").unwrap();
    assert!(msg(fx.load(&[], &[])).ends_with("mtu: expected an integer 1-65535, got \"0\""));
    fs::remove_file(&base_rtp).unwrap();

    let webrtc = fx.path("modules/kurento/WebRtcEndpoint.conf.ini");
    let cases = [
        ("stunServerAddress=stun.l.google.com\n", "stunServerAddress: expected an IP address (domain names are not supported), got \"stun.l.google.com\""),
        ("stunServerPort=0\n", "stunServerPort: expected an integer 1-65535, got \"0\""),
        ("turnURL=user:pw@198.51.100.1\n", "turnURL: invalid TURN URL: missing ':port' after the address"),
        ("turnURL=198.51.100.1:3478\n", "turnURL: invalid TURN URL: missing '@address:port'"),
        ("turnURL=u:pw@198.51.100.1:3478?transport=quic\n", "turnURL: invalid TURN URL: query \"transport=quic\""),
        ("externalIPv4=2001:db8::1\n", "externalIPv4: expected an IPv4 address or \"auto\", got \"2001:db8::1\""),
        ("externalIPv6=198.51.100.1\n", "externalIPv6: expected an IPv6 address or \"auto\""),
        ("externalAddress=my.host\n", "externalAddress: expected an IP address or \"auto\""),
        ("iceTcp=maybe\n", "iceTcp: expected true/false or 1/0, got \"maybe\""),
    ];
    for (text, want) in cases {
        fx.write("modules/kurento/WebRtcEndpoint.conf.ini", text);
        let err = msg(fx.load(&[], &[]));
        assert!(
            err.starts_with(&format!("{}: {want}", webrtc.display())),
            "{text}  got: {err}"
        );
    }
    fs::remove_file(&webrtc).unwrap();

    let sdp = fx.write(
        "modules/kurento/SdpEndpoint.conf.json",
        r#"{"audioCodecs": "opus/48000/2"}"#,
    );
    assert!(msg(fx.load(&[], &[])).starts_with(&format!(
        "{}: audioCodecs: expected an array of",
        sdp.display()
    )));
    fs::write(
        &sdp,
        r#"{"videoCodecs": [{"name": "VP8/90000"}, {"nom": 1}]}"#,
    )
    .unwrap();
    assert!(msg(fx.load(&[], &[])).starts_with(&format!("{}: videoCodecs:", sdp.display())));
    fs::write(
        &sdp,
        r#"{"videoCodecs": ["VP8/90000"], "numAudioMedias": "two"}"#,
    )
    .unwrap();
    assert!(msg(fx.load(&[], &[])).starts_with(&format!(
        "{}: numAudioMedias: expected an integer",
        sdp.display()
    )));
}

#[test]
fn module_syntax_errors_are_fatal_and_located() {
    let fx = Fixture::new();
    let bad = fx.write(
        "modules/kurento/SdpEndpoint.conf.json",
        "{\n \"a\": [1,\n}\n",
    );
    let err = msg(fx.load(&[], &[]));
    assert!(
        err.starts_with(&format!("{}: line 3, column", bad.display())),
        "{err}"
    );
    fs::remove_file(&bad).unwrap();
    let bad = fx.write(
        "modules/kurento/WebRtcEndpoint.conf.ini",
        "iceTcp=1\n[broken\n",
    );
    let err = msg(fx.load(&[], &[]));
    assert!(
        err.starts_with(&format!("{}: line ", bad.display())),
        "{err}"
    );
}

#[test]
fn ini_file_in_top_level_modules_dir_lands_at_modules_name() {
    let fx = Fixture::new();
    // A file directly in modules/ is not read by KMS's classes (they look under modules.kurento), but
    // it is in the tree, as in KMS.
    fx.write("modules/WebRtcEndpoint.conf.ini", "stunServerPort=1\n");
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(
        c.module_value("WebRtcEndpoint.stunServerPort"),
        Some(&json!("1"))
    );
    assert_eq!(c.webrtc.stun_server_port, 3478);
}

#[test]
fn module_dirs_are_found_through_the_conf_file_directory() {
    let fx = Fixture::new();
    let file = fx.write("x/y/kurento.conf.json", KMS7_CONF_JSON);
    fx.write("x/y/modules/kurento/BaseRtpEndpoint.conf.ini", "mtu=1000\n");
    fx.write("modules/kurento/BaseRtpEndpoint.conf.ini", "mtu=900\n");
    let c = fx.load(&["-f", file.to_str().unwrap()], &[]).unwrap();
    assert_eq!(c.base_rtp.mtu, 1000);
}

#[test]
fn redaction_masks_passwords_and_turn_urls_anywhere_in_a_tree() {
    let tree = json!({"a": {"turnURL": "u:secret1@1.2.3.4:3478", "Password": "secret2",
                            "list": [{"keyPassword": "secret3"}], "turnURL2": "kept"}});
    let shown = redacted(&tree).to_string();
    for secret in ["secret1", "secret2", "secret3"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("u:***@1.2.3.4:3478"), "{shown}");
    assert!(shown.contains("kept"), "{shown}");
}

#[test]
fn resource_limits_are_read_and_checked() {
    let fx = Fixture::new();
    fx.write(
        "kurento.conf.json",
        r#"{"mediaServer":{"net":{"websocket":{"port":8888}},"resources":{"limits":{"maxSessions":3,"maxRequestBytes":1000,"maxRequestsInFlight":7}}}}"#,
    );
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(c.resources.limits.max_sessions, 3);
    assert_eq!(c.resources.limits.max_request_bytes, 1000);
    assert_eq!(c.resources.limits.max_requests_in_flight, 7);
    assert_eq!(
        c.resources.limits.max_pipelines,
        Limits::default().max_pipelines
    );
    fx.write(
        "kurento.conf.json",
        r#"{"mediaServer":{"net":{"websocket":{"port":8888}},"resources":{"limits":{"maxSessions":"many"}}}}"#,
    );
    let m = msg(fx.load(&[], &[]));
    assert!(
        m.contains("mediaServer.resources.limits.maxSessions"),
        "{m}"
    );
}

#[test]
fn access_token_is_read_and_never_printed() {
    let fx = Fixture::new();
    fx.write(
        "kurento.conf.json",
        r#"{"mediaServer":{"net":{"websocket":{"port":8888,"accessToken":"s3cr3t-t0ken"}}}}"#,
    );
    let c = fx.load(&[], &[]).unwrap();
    assert_eq!(
        c.websocket.access_token,
        Some(Secret("s3cr3t-t0ken".into()))
    );
    assert!(!format!("{c:?}").contains("s3cr3t-t0ken"));
    assert!(!c.startup_summary().contains("s3cr3t-t0ken"));
}
