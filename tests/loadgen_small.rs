//! The load generator against the real server in-process on 127.0.0.1: one presenter fanned
//! out to 20 str0m viewers over real UDP, every frame must arrive whole and decodable.

use std::time::Duration;

use kurento_media_server::server::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one2many_20_viewers_no_frame_loss() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.webrtc.network_interfaces = Some(vec!["lo".into()]);
    let server = start(o).await.unwrap();
    let addr = server.ws_addr.unwrap();

    let cfg = loadgen::Config {
        url: format!("ws://{addr}/kurento"),
        viewers: 20,
        late_joiners: 2,
        duration: Duration::from_secs(8),
        bitrate_kbps: 1500,
        server_pid: Some(std::process::id()),
        setup_concurrency: 8,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(60), loadgen::run(cfg))
        .await
        .expect("load generator bounded in time")
        .expect("load generator ran");
    println!("{}", r.to_table());
    println!("took {:?}", started.elapsed());

    assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
    assert_eq!(r.viewers_connected, 20, "{}", r.to_table());
    assert_eq!(r.late_joiners_connected, 2, "{}", r.to_table());
    // About 8 s at 30 fps were sent, and every viewer saw a keyframe and most of the stream.
    assert!(r.presenter.frames_sent >= 200, "{}", r.to_table());
    assert!(
        r.frames_expected >= 20 * 150,
        "viewers saw too little of the stream: {}",
        r.to_table()
    );
    assert_eq!(r.frames_lost, 0, "{}", r.to_table());
    assert_eq!(r.frames_incomplete, 0, "{}", r.to_table());
    assert_eq!(r.frames_decodable, r.frames_expected, "{}", r.to_table());
    assert_eq!(r.packets_lost, 0, "{}", r.to_table());
    assert!(r.latency_p50_ms.is_some());
    for (i, k) in r.late_first_keyframe_ms.iter().enumerate() {
        assert!(k.is_some(), "late joiner {i} never got a keyframe");
    }
    // The CPU sampler read this very process.
    assert!(r
        .server
        .as_ref()
        .is_some_and(|s| s.samples >= 5 && s.rss_max_mb > 1.0));
}
