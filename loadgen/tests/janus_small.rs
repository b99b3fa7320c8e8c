//! `loadgen::janus` against a real Janus (Debian package `janus`) started here with the config
//! of scripts/janus-conf.sh: one publisher, 5 subscribers and a late joiner over the VideoRoom,
//! every frame must arrive whole and decodable. Skipped (with a message) when `janus` is not
//! installed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Janus {
    child: Child,
    dir: PathBuf,
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_janus() -> Option<(Janus, u16)> {
    if Command::new("janus").arg("--version").output().is_err() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "loadgen-janus-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let port = free_port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/janus-conf.sh");
    let st = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .arg(port.to_string())
        .status()
        .unwrap();
    assert!(st.success(), "janus-conf.sh failed");
    let log = std::fs::File::create(dir.join("janus.log")).unwrap();
    let child = Command::new("janus")
        .arg("-F")
        .arg(&dir)
        .arg("-C")
        .arg(dir.join("janus.jcfg"))
        .arg("-o")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let j = Janus { child, dir };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "Janus did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((j, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janus_videoroom_5_viewers_no_frame_loss() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let Some((janus, port)) = start_janus() else {
        eprintln!("janus is not installed (apt-get install janus): test skipped");
        return;
    };
    let cfg = loadgen::Config {
        url: format!("http://127.0.0.1:{port}/janus"),
        viewers: 5,
        late_joiners: 1,
        duration: Duration::from_secs(5),
        bitrate_kbps: 1500,
        server_pid: Some(janus.child.id()),
        setup_concurrency: 8,
    };
    let r = tokio::time::timeout(Duration::from_secs(60), loadgen::janus::run(cfg))
        .await
        .expect("load generator bounded in time")
        .expect("load generator ran");
    println!("{}", r.to_table());

    assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
    assert_eq!(r.viewers_connected, 5, "{}", r.to_table());
    assert_eq!(r.late_joiners_connected, 1, "{}", r.to_table());
    assert!(r.presenter.frames_sent >= 120, "{}", r.to_table());
    assert!(r.frames_expected >= 5 * 100, "{}", r.to_table());
    assert_eq!(r.frames_lost, 0, "{}", r.to_table());
    assert_eq!(r.frames_decodable, r.frames_expected, "{}", r.to_table());
    assert_eq!(r.packets_lost, 0, "{}", r.to_table());
    assert!(r.audio_packets > 5 * 200, "{}", r.to_table());
    assert!(
        r.late_first_keyframe_ms.iter().all(Option::is_some),
        "late joiner never got a keyframe: {}",
        r.to_table()
    );
    // The sampler read the Janus process, not ours.
    assert!(r.server.is_some_and(|s| s.rss_max_mb > 1.0));
    drop(janus);
}
