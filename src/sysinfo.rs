//! Process CPU and memory figures from /proc, for ServerManager getters and the benchmarks.

/// User + system CPU seconds used by this process so far (0 when /proc is unavailable).
pub fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on every Linux configuration we target.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size in KiB (0 when /proc is unavailable).
pub fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Hands memory that the allocator keeps after a burst (freed pipelines, endpoints, sessions) back
/// to the system, so RSS returns to its baseline once load drops instead of staying at its peak.
/// glibc only trims the top of the heap by itself; `malloc_trim` also releases free pages inside
/// it. Costs a walk over the free lists (milliseconds), so it runs only after objects went away.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects and releases the allocator's own free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_proc() {
        assert!(super::rss_kib() > 0);
        assert!(super::process_cpu_seconds() >= 0.0);
    }
}
