//! Writes fuzzed configuration files into a scratch directory and loads them through the public
//! `config::load`, exactly as the server does at start-up, then turns the result into server
//! options (TURN URL, addresses, property defaults).

use clap::Parser;
use kurento_media_server::config::{self, Cli};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Module config files a KMS installation has, under `modules/kurento/`.
pub const MODULE_FILES: &[&str] = &[
    "WebRtcEndpoint",
    "BaseRtpEndpoint",
    "MediaElement",
    "SdpEndpoint",
    "UriEndpoint",
    "HttpEndpoint",
    "PlayerEndpoint",
    "RecorderEndpoint",
];

/// A valid main file, for inputs that fuzz a module file.
pub const MAIN_JSON: &str = r#"{"mediaServer":{"resources":{"garbageCollectorPeriod":240},
"net":{"websocket":{"port":8888,"path":"kurento","threads":10}}}}"#;

/// A scratch directory removed on drop; unique per call so parallel tests do not collide.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "kms-fuzz-config-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("modules/kurento"))
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Loads `main_name` with `main_text`, plus `module` (`(file name under modules/kurento, text)`).
pub fn load(main_name: &str, main_text: &[u8], module: Option<(&str, &[u8])>) {
    let scratch = Scratch::new();
    let main = scratch.0.join(main_name);
    let modules = scratch.0.join("modules");
    write(&main, main_text);
    if let Some((name, text)) = module {
        write(&modules.join("kurento").join(name), text);
    }
    let args = [
        "kurento-media-server".to_owned(),
        "--conf-file".to_owned(),
        main.to_string_lossy().into_owned(),
        "--modules-config-path".to_owned(),
        modules.to_string_lossy().into_owned(),
    ];
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("cli: {e}"));
    // No KMS_* variables: the files alone must decide.
    match config::load(&cli, &|_| None) {
        Ok(cfg) => {
            let _ = cfg.startup_summary();
            let _ = format!("{cfg:?}");
            let _ = config::redacted(&cfg.modules);
            let opts = kurento_media_server::setup::options(&cfg);
            let _ = format!("{:?}", opts.webrtc);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
