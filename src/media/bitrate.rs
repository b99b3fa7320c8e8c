//! Bandwidth feedback from viewers to the presenter.
//!
//! A forwarding server cannot re-encode a stream per viewer, so the source has to send what its
//! slowest viewer can take: each sink's receiver estimate (REMB) is clamped to that sink's
//! `min/maxVideoSendBandwidth`, the minimum over a source's video sinks is clamped to the source's
//! `min/maxVideoRecvBandwidth`, and the result goes to the source as its own REMB. KMS does the
//! same with its REMB manager, but defaults `maxVideoSendBandwidth` to 500 kbps because it caps its
//! encoder with it; we apply the send limits only when the application set them.

use super::ElementId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What KMS documents as the absolute minimum REMB value.
pub const MIN_REMB_BPS: u64 = 30_000;
/// A changed target is sent at once; an unchanged one is repeated this often, as REMB senders do.
pub const REFRESH: Duration = Duration::from_secs(1);
/// Changes smaller than this fraction wait for the refresh.
const SIGNIFICANT: f64 = 0.03;

/// An endpoint's bandwidth properties in bits per second; `None` is unset (no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BitrateLimits {
    pub min_recv: Option<u64>,
    pub max_recv: Option<u64>,
    pub min_send: Option<u64>,
    pub max_send: Option<u64>,
}

fn clamp(v: u64, min: Option<u64>, max: Option<u64>) -> u64 {
    let v = max.map_or(v, |m| v.min(m));
    min.map_or(v, |m| v.max(m))
}

#[derive(Default)]
pub struct BitrateControl {
    limits: HashMap<ElementId, BitrateLimits>,
    /// Latest estimate each sink's peer reported for the video it receives.
    estimates: HashMap<ElementId, u64>,
    /// Last value sent to each source, and when.
    sent: HashMap<ElementId, (u64, Instant)>,
}

impl BitrateControl {
    pub fn set_limits(&mut self, k: ElementId, l: BitrateLimits) {
        self.limits.insert(k, l);
    }

    pub fn on_estimate(&mut self, sink: ElementId, bps: u64) {
        self.estimates.insert(sink, bps);
    }

    pub fn forget(&mut self, k: ElementId) {
        self.limits.remove(&k);
        self.estimates.remove(&k);
        self.sent.remove(&k);
    }

    /// The bitrate `source` should be asked for, given its current video sinks; `None` when
    /// nobody reported an estimate and the source has no maximum.
    pub fn target(&self, source: ElementId, sinks: &[ElementId]) -> Option<u64> {
        let from_sinks = sinks
            .iter()
            .filter_map(|s| {
                let l = self.limits.get(s).copied().unwrap_or_default();
                self.estimates
                    .get(s)
                    .map(|e| clamp(*e, l.min_send, l.max_send))
            })
            .min();
        let l = self.limits.get(&source).copied().unwrap_or_default();
        let v = from_sinks.or(l.max_recv)?;
        Some(clamp(v, l.min_recv, l.max_recv).max(MIN_REMB_BPS))
    }

    /// The value to send to `source` now, if any: a significant change, or the refresh.
    pub fn due(&mut self, source: ElementId, sinks: &[ElementId], now: Instant) -> Option<u64> {
        let t = self.target(source, sinks)?;
        let send = match self.sent.get(&source) {
            None => true,
            Some((last, at)) => {
                let change = (t as f64 - *last as f64).abs() / (*last).max(1) as f64;
                change >= SIGNIFICANT || now.duration_since(*at) >= REFRESH
            }
        };
        if send {
            self.sent.insert(source, (t, now));
            Some(t)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (ElementId, ElementId, ElementId) {
        (ElementId::next(), ElementId::next(), ElementId::next())
    }

    #[test]
    fn the_slowest_viewer_sets_the_source_rate() {
        let (src, a, b) = keys();
        let mut c = BitrateControl::default();
        assert_eq!(c.target(src, &[a, b]), None, "nothing reported, no limit");
        c.on_estimate(a, 300_000);
        c.on_estimate(b, 800_000);
        assert_eq!(c.target(src, &[a, b]), Some(300_000));
        // The slow viewer leaves: the source may go up again.
        assert_eq!(c.target(src, &[b]), Some(800_000));
    }

    #[test]
    fn send_limits_clamp_each_viewer_and_receive_limits_the_source() {
        let (src, a, b) = keys();
        let mut c = BitrateControl::default();
        c.on_estimate(a, 3_000_000);
        c.on_estimate(b, 50_000);
        c.set_limits(
            a,
            BitrateLimits {
                max_send: Some(1_000_000),
                ..Default::default()
            },
        );
        c.set_limits(
            b,
            BitrateLimits {
                min_send: Some(200_000),
                ..Default::default()
            },
        );
        assert_eq!(c.target(src, &[a]), Some(1_000_000));
        assert_eq!(c.target(src, &[a, b]), Some(200_000));
        c.set_limits(
            src,
            BitrateLimits {
                min_recv: Some(400_000),
                max_recv: Some(600_000),
                ..Default::default()
            },
        );
        assert_eq!(c.target(src, &[a, b]), Some(400_000));
        assert_eq!(c.target(src, &[a]), Some(600_000));
        // With no viewer estimates, a receive maximum is still requested.
        assert_eq!(c.target(src, &[]), Some(600_000));
    }

    #[test]
    fn never_below_the_remb_floor() {
        let (src, a, _) = keys();
        let mut c = BitrateControl::default();
        c.on_estimate(a, 1_000);
        assert_eq!(c.target(src, &[a]), Some(MIN_REMB_BPS));
    }

    #[test]
    fn small_changes_wait_for_the_refresh() {
        let (src, a, _) = keys();
        let mut c = BitrateControl::default();
        let t0 = Instant::now();
        c.on_estimate(a, 1_000_000);
        assert_eq!(c.due(src, &[a], t0), Some(1_000_000));
        c.on_estimate(a, 1_010_000);
        assert_eq!(c.due(src, &[a], t0 + Duration::from_millis(100)), None);
        c.on_estimate(a, 700_000);
        assert_eq!(
            c.due(src, &[a], t0 + Duration::from_millis(200)),
            Some(700_000)
        );
        assert_eq!(c.due(src, &[a], t0 + Duration::from_millis(300)), None);
        assert_eq!(
            c.due(src, &[a], t0 + Duration::from_millis(1300)),
            Some(700_000)
        );
    }
}
