//! `kurento-loadgen`: one2many load against a Kurento-compatible server; see README.md.

use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Kurento JSON-RPC over WebSocket (this server, or KMS).
    Kurento,
    /// Janus VideoRoom over its HTTP REST API with long polling.
    Janus,
}

#[derive(Parser, Debug)]
#[command(name = "kurento-loadgen", version, about)]
struct Args {
    /// Server protocol: the one2many topology over Kurento JSON-RPC, or a Janus VideoRoom.
    #[arg(long, value_enum, default_value_t = Target::Kurento)]
    target: Target,
    /// Server URL [default: ws://127.0.0.1:8888/kurento, or http://127.0.0.1:8088/janus
    /// with --target janus].
    #[arg(long)]
    url: Option<String>,
    /// Viewers connected before the measurement starts.
    #[arg(long, default_value_t = 10)]
    viewers: usize,
    /// Viewers joining 3 s into the stream (time to first keyframe).
    #[arg(long, default_value_t = 0)]
    late_joiners: usize,
    /// Seconds of streaming measured once the viewers are connected.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Presenter video bitrate (30 fps VP8-shaped frames; Opus 20 ms packets besides).
    #[arg(long, default_value_t = 1500)]
    bitrate_kbps: u32,
    /// Server process whose CPU and RSS are sampled every second.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Viewers signalling and handshaking at the same time.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: usize,
    /// Local address the peers' UDP sockets bind to.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: std::net::IpAddr,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = loadgen::Config {
        url: args.url.unwrap_or_else(|| {
            match args.target {
                Target::Kurento => "ws://127.0.0.1:8888/kurento",
                Target::Janus => "http://127.0.0.1:8088/janus",
            }
            .into()
        }),
        viewers: args.viewers,
        late_joiners: args.late_joiners,
        duration: Duration::from_secs(args.duration),
        bitrate_kbps: args.bitrate_kbps,
        server_pid: args.server_pid,
        setup_concurrency: args.setup_concurrency,
        local_ip: args.local_ip,
        presenter_ip: None,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let run = async {
        match args.target {
            Target::Kurento => loadgen::run(cfg).await,
            Target::Janus => loadgen::janus::run(cfg).await,
        }
    };
    match rt.block_on(run) {
        Ok(r) => {
            if args.json {
                println!("{:#}", r.to_json());
            } else {
                print!("{}", r.to_table());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kurento-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
