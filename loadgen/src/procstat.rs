//! CPU and memory of the server process, from /proc/<pid>/stat and /proc/<pid>/status.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// Linux reports utime/stime in USER_HZ, which is 100 on every mainstream architecture.
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime, seconds.
    pub cpu_secs: f64,
    pub rss_kb: u64,
}

pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(Sample {
        at: Instant::now(),
        cpu_secs: (utime + stime) / TICKS_PER_SEC,
        rss_kb,
    })
}

/// Samples every second until `stop`; returns all samples.
pub async fn sampler(pid: u32, mut stop: watch::Receiver<bool>) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(s) = sample(pid) {
                    out.push(s);
                }
            }
            _ = stop.changed() => break,
        }
    }
    if let Some(s) = sample(pid) {
        out.push(s);
    }
    out
}

#[derive(Debug, Clone, Default)]
pub struct CpuMem {
    pub samples: usize,
    /// Percent of one core, averaged over the window.
    pub cpu_avg_pct: f64,
    /// Highest one-second value.
    pub cpu_max_pct: f64,
    pub rss_max_mb: f64,
    pub rss_end_mb: f64,
}

/// Summary of the samples taken at or after `from`.
pub fn summarize(samples: &[Sample], from: Instant) -> Option<CpuMem> {
    let s: Vec<&Sample> = samples.iter().filter(|s| s.at >= from).collect();
    let (first, last) = (s.first()?, s.last()?);
    let span = last.at.saturating_duration_since(first.at).as_secs_f64();
    let cpu_avg_pct = if span > 0.0 {
        (last.cpu_secs - first.cpu_secs) / span * 100.0
    } else {
        0.0
    };
    let cpu_max_pct = s
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].at.saturating_duration_since(w[0].at).as_secs_f64();
            (dt > 0.0).then(|| (w[1].cpu_secs - w[0].cpu_secs) / dt * 100.0)
        })
        .fold(0.0, f64::max);
    Some(CpuMem {
        samples: s.len(),
        cpu_avg_pct,
        cpu_max_pct,
        rss_max_mb: s.iter().map(|x| x.rss_kb).max().unwrap_or(0) as f64 / 1024.0,
        rss_end_mb: last.rss_kb as f64 / 1024.0,
    })
}
