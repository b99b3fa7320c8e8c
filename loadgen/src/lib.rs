//! One-to-many load generator for a Kurento-compatible media server.
//!
//! Builds the one2many tutorial topology over the Kurento JSON-RPC (one presenter
//! WebRtcEndpoint connected to N viewer WebRtcEndpoints), drives every peer as a real str0m
//! WebRTC stack on loopback UDP, sends synthetic VP8 + Opus from the presenter and measures
//! at the viewers what arrives: packets, loss, complete/decodable frames, added latency, and
//! time to first keyframe for late joiners. See `loadgen/README.md` for what each figure means.

mod http;
pub mod janus;
mod peer;
mod procstat;
mod reorder;
mod rpc;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use peer::{PresenterStats, ViewerStats};
pub use procstat::CpuMem;

#[derive(Debug, Clone)]
pub struct Config {
    /// e.g. `ws://127.0.0.1:8888/kurento`.
    pub url: String,
    pub viewers: usize,
    /// Extra viewers joining 3 s after the stream started.
    pub late_joiners: usize,
    /// Length of the measured stream, from the moment the initial viewers are connected.
    pub duration: Duration,
    pub bitrate_kbps: u32,
    /// Server process to sample CPU and RSS of.
    pub server_pid: Option<u32>,
    /// Viewers signalling and handshaking at the same time (bounds the setup burst).
    pub setup_concurrency: usize,
    /// Address the peers' UDP sockets bind to (their ICE host candidate).
    pub local_ip: IpAddr,
    /// The presenter's address, when it must differ from the viewers' (e.g. to cut only its
    /// network); `None` = `local_ip`.
    pub presenter_ip: Option<IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: "ws://127.0.0.1:8888/kurento".into(),
            viewers: 10,
            late_joiners: 0,
            duration: Duration::from_secs(20),
            bitrate_kbps: 1500,
            server_pid: None,
            setup_concurrency: 8,
            local_ip: IpAddr::from([127, 0, 0, 1]),
            presenter_ip: None,
        }
    }
}

const LATE_JOIN_AFTER: Duration = Duration::from_secs(3);
/// Time for in-flight media to reach the viewers after the presenter stops.
const DRAIN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Report {
    pub config: Config,
    pub viewers_connected: usize,
    pub late_joiners_connected: usize,
    /// Seconds from the initial viewers being connected to the presenter stopping.
    pub window_secs: f64,
    pub setup_secs: f64,
    pub presenter: PresenterStats,
    /// Sum over viewers of (packets received / seconds connected).
    pub packets_per_sec: f64,
    pub video_packets: u64,
    pub audio_packets: u64,
    pub packets_lost: u64,
    pub video_packets_lost: u64,
    pub audio_packets_lost: u64,
    pub packet_loss_pct: f64,
    /// Packets that filled a sequence gap within the viewers' reorder wait: NACK
    /// retransmissions (video) or packets the network reordered.
    pub video_packets_recovered: u64,
    pub audio_packets_recovered: u64,
    pub packets_reordered: u64,
    /// PLIs the viewers sent because their frame chain broke.
    pub viewer_keyframe_requests: u64,
    /// Over connected viewers, frames from each viewer's first keyframe to the last frame sent.
    pub frames_expected: u64,
    pub frames_complete: u64,
    pub frames_decodable: u64,
    pub frames_incomplete: u64,
    /// Expected frames that never arrived complete (skipped, incomplete or missing at the end).
    pub frames_lost: u64,
    pub frames_complete_pct: f64,
    pub frames_decodable_pct: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    /// Late joiners: from ICE + DTLS connected to the first complete keyframe (ms; None = never).
    pub late_first_keyframe_ms: Vec<Option<f64>>,
    /// Late joiners: from the first JSON-RPC request to the first complete keyframe.
    pub late_join_to_keyframe_ms: Vec<Option<f64>>,
    pub server: Option<CpuMem>,
    pub errors: Vec<String>,
    pub viewers: Vec<ViewerStats>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)] as f64 / 1000.0)
}

/// Runs the whole scenario and releases the pipeline. Errors only when nothing could be measured
/// (server unreachable, presenter never connected); per-viewer failures go into the report.
pub async fn run(cfg: Config) -> Result<Report, String> {
    let epoch = Instant::now();
    peer::now_us(epoch);
    let rpc = rpc::Rpc::connect(&cfg.url).await?;
    rpc.call(
        "ping",
        serde_json::Map::from_iter([("interval".into(), json!(5000))]),
    )
    .await?;
    let pipeline = rpc.create("MediaPipeline", json!({})).await?;
    info!(%pipeline, "pipeline created");
    let r = run_on(
        &cfg,
        |announce, stop| {
            tokio::spawn(peer::presenter(
                rpc.clone(),
                pipeline.clone(),
                announce,
                cfg.bitrate_kbps,
                epoch,
                cfg.presenter_ip.unwrap_or(cfg.local_ip),
                stop,
            ))
        },
        |presenter_ep, late, permit, stop| {
            tokio::spawn(peer::viewer(
                rpc.clone(),
                pipeline.clone(),
                presenter_ep.to_string(),
                late,
                epoch,
                cfg.local_ip,
                permit,
                stop,
            ))
        },
    )
    .await;
    if let Err(e) = rpc.release(&pipeline).await {
        warn!("release pipeline: {e}");
    }
    rpc.close();
    r
}

/// Tells the scenario the presenter is connected (and the id viewers attach to), or why not.
pub(crate) type Announce = tokio::sync::oneshot::Sender<Result<(String, Instant), String>>;

/// The scenario, whatever the server protocol: `spawn_presenter` starts the presenter task,
/// `spawn_viewer(presenter id, late, setup permit, stop)` one viewer task.
pub(crate) async fn run_on(
    cfg: &Config,
    spawn_presenter: impl FnOnce(
        Announce,
        watch::Receiver<bool>,
    ) -> JoinHandle<Result<PresenterStats, String>>,
    spawn_viewer: impl Fn(
        &str,
        bool,
        Option<OwnedSemaphorePermit>,
        watch::Receiver<bool>,
    ) -> JoinHandle<ViewerStats>,
) -> Result<Report, String> {
    let start = Instant::now();
    let (stop_sampler, sampler_rx) = watch::channel(false);
    let sampler = cfg
        .server_pid
        .map(|pid| tokio::spawn(procstat::sampler(pid, sampler_rx)));

    let (stop_presenter, presenter_rx) = watch::channel(false);
    let (ep_tx, ep_rx) = tokio::sync::oneshot::channel();
    let presenter = spawn_presenter(ep_tx, presenter_rx);
    let presenter_ep = match tokio::time::timeout(Duration::from_secs(20), ep_rx).await {
        Ok(Ok(Ok((ep, _)))) => ep,
        Ok(Ok(Err(e))) => return Err(format!("presenter: {e}")),
        Ok(Err(_)) => {
            let r = presenter.await;
            return Err(format!("presenter ended before connecting: {r:?}"));
        }
        Err(_) => {
            let _ = stop_presenter.send(true);
            return Err("presenter did not connect within 20 s".into());
        }
    };
    info!("presenter connected");

    let (stop_viewers, viewers_rx) = watch::channel(false);
    let setup = Arc::new(Semaphore::new(cfg.setup_concurrency.max(1)));
    let mut handles = Vec::new();
    let spawn_viewer =
        |late: bool, permit| spawn_viewer(&presenter_ep, late, permit, viewers_rx.clone());
    for _ in 0..cfg.viewers {
        let permit = setup.clone().acquire_owned().await.ok();
        handles.push(spawn_viewer(false, permit));
    }
    // Wait for the last setups: every permit back means every viewer connected or failed.
    let setup_limit = Duration::from_secs(20) + Duration::from_millis(100 * cfg.viewers as u64);
    let all = setup.acquire_many(cfg.setup_concurrency.max(1) as u32);
    if tokio::time::timeout(setup_limit, all).await.is_err() {
        warn!("some viewers still not connected after {setup_limit:?}");
    }
    let t0 = Instant::now();
    info!(
        viewers = cfg.viewers,
        setup_secs = (t0 - start).as_secs_f64(),
        "measuring"
    );

    let end = t0 + cfg.duration;
    if cfg.late_joiners > 0 && cfg.duration > LATE_JOIN_AFTER {
        tokio::time::sleep_until((t0 + LATE_JOIN_AFTER).into()).await;
        for _ in 0..cfg.late_joiners {
            handles.push(spawn_viewer(true, None));
        }
    }
    tokio::time::sleep_until(end.into()).await;

    let _ = stop_presenter.send(true);
    let presenter = match tokio::time::timeout(Duration::from_secs(5), presenter).await {
        Ok(Ok(Ok(s))) => s,
        Ok(Ok(Err(e))) => return Err(format!("presenter failed: {e}")),
        Ok(Err(e)) => return Err(format!("presenter task: {e}")),
        Err(_) => return Err("presenter did not stop".into()),
    };
    let window_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(DRAIN).await;
    let _ = stop_viewers.send(true);
    let mut viewers = Vec::new();
    let mut errors = Vec::new();
    for h in handles {
        match tokio::time::timeout(Duration::from_secs(5), h).await {
            Ok(Ok(s)) => viewers.push(s),
            Ok(Err(e)) => errors.push(format!("viewer task: {e}")),
            Err(_) => errors.push("viewer did not stop".into()),
        }
    }
    let _ = stop_sampler.send(true);
    let samples = match sampler {
        Some(h) => h.await.unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(build_report(
        cfg,
        presenter,
        viewers,
        errors,
        procstat::summarize(&samples, t0),
        window_secs,
        (t0 - start).as_secs_f64(),
    ))
}

fn build_report(
    cfg: &Config,
    presenter: PresenterStats,
    viewers: Vec<ViewerStats>,
    mut errors: Vec<String>,
    server: Option<CpuMem>,
    window_secs: f64,
    setup_secs: f64,
) -> Report {
    let mut r = Report {
        config: cfg.clone(),
        viewers_connected: 0,
        late_joiners_connected: 0,
        window_secs,
        setup_secs,
        presenter,
        packets_per_sec: 0.0,
        video_packets: 0,
        audio_packets: 0,
        packets_lost: 0,
        video_packets_lost: 0,
        audio_packets_lost: 0,
        packet_loss_pct: 0.0,
        video_packets_recovered: 0,
        audio_packets_recovered: 0,
        packets_reordered: 0,
        viewer_keyframe_requests: 0,
        frames_expected: 0,
        frames_complete: 0,
        frames_decodable: 0,
        frames_incomplete: 0,
        frames_lost: 0,
        frames_complete_pct: 0.0,
        frames_decodable_pct: 0.0,
        latency_p50_ms: None,
        latency_p99_ms: None,
        latency_max_ms: None,
        late_first_keyframe_ms: Vec::new(),
        late_join_to_keyframe_ms: Vec::new(),
        server,
        errors: Vec::new(),
        viewers: Vec::new(),
    };
    let mut lat = Vec::new();
    let last_sent = r.presenter.last_frame;
    for v in &viewers {
        if let Some(e) = &v.error {
            errors.push(format!("viewer: {e}"));
        }
        if v.late {
            r.late_first_keyframe_ms
                .push(v.connected_to_first_keyframe.map(ms));
            r.late_join_to_keyframe_ms
                .push(v.join_to_first_keyframe.map(ms));
        }
        if !v.connected {
            continue;
        }
        if v.late {
            r.late_joiners_connected += 1;
        } else {
            r.viewers_connected += 1;
        }
        let pkts = v.video_packets + v.audio_packets;
        if v.active_secs > 0.0 {
            r.packets_per_sec += pkts as f64 / v.active_secs;
        }
        r.video_packets += v.video_packets;
        r.audio_packets += v.audio_packets;
        r.packets_lost += v.video_lost + v.audio_lost;
        r.video_packets_lost += v.video_lost;
        r.audio_packets_lost += v.audio_lost;
        r.packets_reordered += v.reordered;
        r.viewer_keyframe_requests += v.keyframe_requests;
        r.video_packets_recovered += v.video_recovered;
        r.audio_packets_recovered += v.audio_recovered;
        // Expected: every frame from this viewer's first keyframe to the presenter's last one.
        let expected = match (v.first_frame, last_sent) {
            (Some(f), Some(l)) if l >= f => (l - f + 1) as u64,
            // Connected but never got a keyframe: count one lost frame so it cannot look clean.
            _ => 1,
        };
        r.frames_expected += expected;
        r.frames_complete += v.frames_complete;
        r.frames_decodable += v.frames_decodable;
        r.frames_incomplete += v.frames_incomplete;
        r.frames_lost += expected.saturating_sub(v.frames_complete);
        lat.extend_from_slice(&v.latencies_us);
    }
    r.packet_loss_pct = pct(
        r.packets_lost,
        r.packets_lost + r.video_packets + r.audio_packets,
    );
    r.frames_complete_pct = pct(r.frames_complete, r.frames_expected);
    r.frames_decodable_pct = pct(r.frames_decodable, r.frames_expected);
    lat.sort_unstable();
    r.latency_p50_ms = percentile(&lat, 0.5);
    r.latency_p99_ms = percentile(&lat, 0.99);
    r.latency_max_ms = lat.last().map(|&x| x as f64 / 1000.0);
    r.errors = errors;
    r.viewers = viewers;
    r
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

impl Report {
    pub fn to_json(&self) -> Value {
        let server = self.server.as_ref().map(|s| {
            json!({
                "pid": self.config.server_pid,
                "samples": s.samples,
                "cpu_avg_pct": s.cpu_avg_pct,
                "cpu_max_pct": s.cpu_max_pct,
                "rss_max_mb": s.rss_max_mb,
                "rss_end_mb": s.rss_end_mb,
            })
        });
        json!({
            "config": {
                "url": self.config.url,
                "viewers": self.config.viewers,
                "late_joiners": self.config.late_joiners,
                "duration_s": self.config.duration.as_secs_f64(),
                "bitrate_kbps": self.config.bitrate_kbps,
            },
            "setup_s": self.setup_secs,
            "window_s": self.window_secs,
            "viewers_connected": self.viewers_connected,
            "late_joiners_connected": self.late_joiners_connected,
            "presenter": {
                "frames_sent": self.presenter.frames_sent,
                "keyframes_sent": self.presenter.keyframes_sent,
                "keyframe_requests": self.presenter.keyframe_requests,
                "audio_packets_sent": self.presenter.audio_sent,
            },
            "packets_per_s": self.packets_per_sec,
            "video_packets": self.video_packets,
            "audio_packets": self.audio_packets,
            "packets_lost": self.packets_lost,
            "video_packets_lost": self.video_packets_lost,
            "audio_packets_lost": self.audio_packets_lost,
            "packet_loss_pct": self.packet_loss_pct,
            "video_packets_recovered": self.video_packets_recovered,
            "audio_packets_recovered": self.audio_packets_recovered,
            "packets_reordered": self.packets_reordered,
            "viewer_keyframe_requests": self.viewer_keyframe_requests,
            "frames_expected": self.frames_expected,
            "frames_complete": self.frames_complete,
            "frames_decodable": self.frames_decodable,
            "frames_incomplete": self.frames_incomplete,
            "frames_lost": self.frames_lost,
            "frames_complete_pct": self.frames_complete_pct,
            "frames_decodable_pct": self.frames_decodable_pct,
            "latency_ms": {
                "p50": self.latency_p50_ms,
                "p99": self.latency_p99_ms,
                "max": self.latency_max_ms,
            },
            "late_joiners": {
                "connected_to_first_keyframe_ms": self.late_first_keyframe_ms,
                "join_to_first_keyframe_ms": self.late_join_to_keyframe_ms,
            },
            "server": server,
            "errors": self.errors,
        })
    }

    pub fn to_table(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            (
                "viewers connected".into(),
                format!("{} / {}", self.viewers_connected, self.config.viewers),
            ),
            (
                "late joiners connected".into(),
                format!(
                    "{} / {}",
                    self.late_joiners_connected, self.config.late_joiners
                ),
            ),
            ("setup time (s)".into(), format!("{:.1}", self.setup_secs)),
            (
                "measured window (s)".into(),
                format!("{:.1}", self.window_secs),
            ),
            (
                "presenter frames / keyframes / PLIs".into(),
                format!(
                    "{} / {} / {}",
                    self.presenter.frames_sent,
                    self.presenter.keyframes_sent,
                    self.presenter.keyframe_requests
                ),
            ),
            (
                "packets/s delivered (all viewers)".into(),
                format!("{:.0}", self.packets_per_sec),
            ),
            (
                "packets received (video + audio)".into(),
                format!("{} + {}", self.video_packets, self.audio_packets),
            ),
            (
                "packet loss".into(),
                format!(
                    "{:.3} % ({} lost: {} video, {} audio)",
                    self.packet_loss_pct,
                    self.packets_lost,
                    self.video_packets_lost,
                    self.audio_packets_lost
                ),
            ),
            (
                "packets recovered (video + audio)".into(),
                format!(
                    "{} + {}",
                    self.video_packets_recovered, self.audio_packets_recovered
                ),
            ),
            (
                "viewer PLIs (broken frame chain)".into(),
                self.viewer_keyframe_requests.to_string(),
            ),
            (
                "frames complete".into(),
                format!(
                    "{:.2} % ({} / {})",
                    self.frames_complete_pct, self.frames_complete, self.frames_expected
                ),
            ),
            (
                "frames decodable".into(),
                format!(
                    "{:.2} % ({} / {})",
                    self.frames_decodable_pct, self.frames_decodable, self.frames_expected
                ),
            ),
            (
                "added latency p50 / p99 / max (ms)".into(),
                format!(
                    "{} / {} / {}",
                    opt(self.latency_p50_ms),
                    opt(self.latency_p99_ms),
                    opt(self.latency_max_ms)
                ),
            ),
        ];
        if !self.late_first_keyframe_ms.is_empty() {
            let list = |v: &[Option<f64>]| v.iter().map(|x| opt(*x)).collect::<Vec<_>>().join(", ");
            rows.push((
                "late joiners: connected → keyframe (ms)".into(),
                list(&self.late_first_keyframe_ms),
            ));
            rows.push((
                "late joiners: join → keyframe (ms)".into(),
                list(&self.late_join_to_keyframe_ms),
            ));
        }
        match &self.server {
            Some(s) => {
                rows.push((
                    "server CPU avg / max (% of a core)".into(),
                    format!("{:.1} / {:.1}", s.cpu_avg_pct, s.cpu_max_pct),
                ));
                rows.push((
                    "server RSS max / end (MB)".into(),
                    format!("{:.1} / {:.1}", s.rss_max_mb, s.rss_end_mb),
                ));
            }
            None if self.config.server_pid.is_some() => {
                rows.push(("server CPU / RSS".into(), "no samples".into()));
            }
            None => {}
        }
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k:<w$}  {v}\n"));
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        out
    }
}
