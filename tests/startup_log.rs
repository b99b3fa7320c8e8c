//! What the server says when it starts, as a newcomer reads it in `docker logs`: one line per
//! fact, "listening on" only once the socket is bound, and a bind failure naming the address.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn conf(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let f = dir.join("kurento.conf.json");
    std::fs::write(
        &f,
        format!(r#"{{"mediaServer": {{"net": {{"websocket": {{"port": {port}, "path": "kurento"}}}}}}}}"#),
    )
    .unwrap();
    f
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server's log lines until `until` matches one (or 20 s pass); the process is killed.
fn lines_until(args: &[&str], until: &str) -> (Vec<String>, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kurento-media-server"))
        .args(args)
        // KMS's default levels (GST_DEBUG also sets them, as in KMS's image).
        .env_remove("GST_DEBUG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
    }
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    // Until the line (then a moment for the process to exit, if it does), or the pipes close.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.contains(until);
                lines.push(l);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let mut code = None;
    for _ in 0..30 {
        if let Ok(Some(s)) = child.try_wait() {
            code = s.code();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    (lines, code)
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn one_line_per_fact_and_listening_only_once_bound() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let f = conf(dir.path(), port);
    let (lines, code) = lines_until(&["--conf-file", f.to_str().unwrap()], "listening on");
    let all = lines.join("\n");
    assert_eq!(code, None, "still running: {all}");
    assert_eq!(count(&lines, "configuration file"), 1, "{all}");
    assert_eq!(
        count(&lines, &format!("configuration file: {}", f.display())),
        1,
        "{all}"
    );
    assert_eq!(count(&lines, "listening on"), 1, "{all}");
    assert_eq!(
        count(&lines, &format!("listening on ws://[::]:{port}/kurento")),
        1,
        "{all}"
    );
    assert_eq!(count(&lines, "RTP ports"), 1, "{all}");
    assert_eq!(count(&lines, "log filter"), 1, "{all}");
    // The last line is the one that says the server can be used.
    assert!(
        lines.last().is_some_and(|l| l.contains("listening on")),
        "{all}"
    );
}

#[test]
fn a_port_in_use_is_named_and_nothing_claims_to_listen() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("[::]:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let f = conf(dir.path(), port);
    let (lines, code) = lines_until(&["--conf-file", f.to_str().unwrap()], "cannot start");
    let all = lines.join("\n");
    assert_eq!(count(&lines, "listening on"), 0, "{all}");
    assert_eq!(
        count(
            &lines,
            &format!("cannot start: cannot listen on [::]:{port}: Address already in use")
        ),
        1,
        "{all}"
    );
    assert_eq!(code, Some(1), "{all}");
}

#[test]
fn a_missing_configuration_file_given_on_the_command_line_is_an_error_naming_it() {
    let (lines, code) = lines_until(
        &["--conf-file", "/nonexistent/kurento.conf.json"],
        "configuration error",
    );
    let all = lines.join("\n");
    assert!(all.contains("/nonexistent/kurento.conf.json"), "{all}");
    assert_eq!(count(&lines, "listening on"), 0, "{all}");
    assert_eq!(code, Some(1), "{all}");
}
