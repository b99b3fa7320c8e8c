//! `kurento-loadgen`: one2many load against a Kurento-compatible server; see README.md.

use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "kurento-loadgen", version, about)]
struct Args {
    /// Kurento JSON-RPC WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8888/kurento")]
    url: String,
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
        url: args.url,
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
    match rt.block_on(loadgen::run(cfg)) {
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
