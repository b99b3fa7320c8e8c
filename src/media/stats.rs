//! Per-stream RTP figures both adapters (WebRTC and plain RTP) report, so getStats has one shape
//! whichever endpoint produced it.

use std::time::Instant;

/// Figures of one media kind of an endpoint. "remote_*" values are what the peer reported (RTCP
/// receiver reports) about the stream we send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RtpStreamStats {
    pub negotiated: bool,
    pub ssrc_in: Option<u32>,
    pub ssrc_out: Option<u32>,
    /// Clock rate of what we receive: jitter is in its timestamp units.
    pub clock_rate_in: u32,
    pub packets_received: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// Interarrival jitter of what we receive, in timestamp units.
    pub jitter: u32,
    /// 0..1, as in our last receiver report.
    pub fraction_lost: f64,
    pub packets_lost: i64,
    pub remote_jitter: u32,
    /// 0..1, as in the peer's last receiver report on our stream.
    pub remote_fraction_lost: f64,
    pub remote_packets_lost: i64,
    /// From the LSR/DLSR of the peer's reports on our stream.
    pub rtt_ms: Option<f64>,
    pub nack_sent: u64,
    pub nack_received: u64,
    pub retransmitted: u64,
    pub pli_sent: u64,
    pub pli_received: u64,
    pub fir_sent: u64,
    pub fir_received: u64,
    /// bps; REMB we last asked the peer for.
    pub remb_sent: Option<u64>,
    /// bps; REMB the peer last asked us for.
    pub remb_received: Option<u64>,
    /// Average time from a packet's arrival at the server to its departure from this endpoint
    /// (KMS E2E latency), in nanoseconds; None until a packet has left.
    pub e2e_latency_ns: Option<f64>,
}

/// Running average of the server-side transit time of the packets an endpoint sends.
///
/// An exponentially weighted average: constant cost per packet and no buffer, while still
/// following changes within a few hundred packets.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatencyAvg {
    avg_ns: Option<f64>,
}

impl LatencyAvg {
    const WEIGHT: f64 = 1.0 / 64.0;

    pub fn record(&mut self, arrival: Instant, departure: Instant) {
        let ns = departure.saturating_duration_since(arrival).as_nanos() as f64;
        self.avg_ns = Some(match self.avg_ns {
            None => ns,
            Some(a) => a + (ns - a) * Self::WEIGHT,
        });
    }

    pub fn avg_ns(&self) -> Option<f64> {
        self.avg_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latency_average_starts_at_first_sample_and_follows() {
        let t0 = Instant::now();
        let mut l = LatencyAvg::default();
        assert_eq!(l.avg_ns(), None);
        l.record(t0, t0 + Duration::from_micros(100));
        assert_eq!(l.avg_ns(), Some(100_000.0));
        for _ in 0..1000 {
            l.record(t0, t0 + Duration::from_micros(200));
        }
        let a = l.avg_ns().unwrap_or_default();
        assert!((a - 200_000.0).abs() < 1.0, "{a}");
        // A departure stamped before the arrival (clock granularity) counts as zero, not a panic.
        l.record(t0 + Duration::from_secs(1), t0);
        assert!(l.avg_ns().is_some_and(|a| a < 200_000.0));
    }
}
