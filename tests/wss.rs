//! wss:// on the secure port with a PEM file holding the certificate and its key, as KMS's
//! `mediaServer.net.websocket.secure` configures it.

use futures_util::{SinkExt, StreamExt};
use kurento_media_server::server::{start, SecureOptions};
use std::process::Command;
use std::sync::Arc;
use tokio_rustls::rustls::{self, pki_types::ServerName, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn wss_answers_ping_with_a_pem_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // KMS wants one PEM file: the certificate chain followed by the key.
    let pem = dir.path().join("server.pem");
    let mut both = std::fs::read(&cert).unwrap();
    both.extend(std::fs::read(&key).unwrap());
    std::fs::write(&pem, both).unwrap();

    let mut o = kurento_media_server::setup::default_options();
    o.port = None;
    o.address = Some("127.0.0.1".parse().unwrap());
    o.secure = Some(SecureOptions {
        port: 0,
        certificate: pem,
        password: None,
    });
    let s = start(o).await.unwrap();
    let addr = s.wss_addr.unwrap();
    assert!(s.ws_addr.is_none());

    let mut roots = RootCertStore::empty();
    let der = rustls_pemfile::certs(&mut std::fs::read(&cert).unwrap().as_slice())
        .next()
        .unwrap()
        .unwrap();
    roots.add(der).unwrap();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}/kurento", addr.port()), tls)
            .await
            .unwrap();
    ws.send(Message::text(r#"{"jsonrpc":"2.0","method":"ping","id":1}"#))
        .await
        .unwrap();
    let Some(Ok(Message::Text(t))) = ws.next().await else {
        panic!("no reply")
    };
    assert_eq!(
        t.as_str(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"value":"pong"}}"#
    );
}

#[tokio::test]
async fn a_missing_certificate_is_a_start_up_error() {
    let mut o = kurento_media_server::setup::default_options();
    o.port = None;
    o.secure = Some(SecureOptions {
        port: 0,
        certificate: "/nonexistent/server.pem".into(),
        password: None,
    });
    let e = start(o).await.err().expect("must fail");
    assert!(e.to_string().contains("/nonexistent/server.pem"), "{e}");
}
