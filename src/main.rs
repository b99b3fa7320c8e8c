//! `kurento-media-server`: reads KMS's configuration and runs the server until SIGINT/SIGTERM.

use clap::Parser;
use kurento_media_server::{config, server, setup};
use tracing_subscriber::EnvFilter;

/// Two runtimes: the control plane (WebSocket, JSON-RPC, the object model) on one thread, and
/// the media workers, one per core, where every pipeline router and endpoint task runs. They talk
/// only through channels.
fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("media")
        .enable_all()
        .build()
        .and_then(|media| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|control| (media, control))
        });
    let (media, control) = match built {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kurento-media-server: cannot start the runtimes: {e}");
            std::process::exit(1);
        }
    };
    control.block_on(run(media.handle().clone()));
    media.shutdown_background();
}

async fn run(media: tokio::runtime::Handle) {
    let cli = config::Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    if cli.version {
        println!(
            "Kurento Media Server (Rust) version {}",
            env!("CARGO_PKG_VERSION")
        );
        println!("Implements the protocol of Kurento Media Server 6.18 / 7.x");
        return;
    }
    if cli.list {
        for m in &kurento_protocol::model::model().modules {
            for f in &m.factories {
                println!("{f}");
            }
        }
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(config::log_filter(&env)).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let cfg = match config::load(&cli, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kurento-media-server: configuration error: {e}");
            std::process::exit(1);
        }
    };
    for line in cfg.startup_summary().lines() {
        tracing::info!("{line}");
    }
    kurento_media_server::gst_bridge::log_engine();
    let mut opts = setup::options(&cfg);
    opts.media_runtime = Some(media);
    let running = match server::start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kurento-media-server: cannot start: {e}");
            std::process::exit(1);
        }
    };
    wait_for_shutdown().await;
    tracing::info!("Kurento Media Server (Rust) stopping");
    // Recordings in progress are finalised, not left without their index (an MP4 without its
    // moov atom is unreadable): every pipeline is released and the recorders get a moment.
    let pipelines = {
        let mut st = running.dispatcher.lock();
        let ids = st.registry.pipelines();
        for p in &ids {
            st.registry.release(p);
        }
        ids.len()
    };
    if pipelines > 0 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while kurento_media_server::gst_bridge::recorder::active() > 0
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tracing::info!("released {pipelines} pipelines");
    }
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
