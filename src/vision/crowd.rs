//! CrowdDetectorFilter: how much of each region of interest is occupied, how much of that is
//! moving (fluidity) and, optionally, which way it moves, with KMS's levels, thresholds and
//! debouncing: a level is reported after `…NumFramesToEvent` consecutive frames at it, never
//! level 0 first; a direction after more than `opticalFlowNumFramesToEvent` frames, snapped to
//! the four directions around `opticalFlowAngleOffset` (0 = right, 90 = up, counter-clockwise),
//! and forgotten after `opticalFlowNumFramesToReset` frames without motion. Frames are analysed
//! at `processingWidth` (KMS's integer scale factor); motion is tinted blue, stopped objects red
//! and the regions outlined in white, as KMS draws them.
//!
//! Our own measures, simpler than KMS's texture codes and optical flow: motion is the
//! accumulated frame difference, a stopped object what differs from a slowly adapting
//! background (KMS's 0.98/0.02), and the direction the motion's centroid shift. The background
//! starts from the first frame rather than black, so an empty scene is not "occupied" for the
//! first seconds.

use super::{luma, EventSink, Frame, FrameProcessor, Gray, VisionEvent};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct RoiConfig {
    pub occupancy_level_min: i32,
    pub occupancy_level_med: i32,
    pub occupancy_level_max: i32,
    pub occupancy_num_frames_to_event: i32,
    pub fluidity_level_min: i32,
    pub fluidity_level_med: i32,
    pub fluidity_level_max: i32,
    pub fluidity_num_frames_to_event: i32,
    pub send_optical_flow_event: bool,
    pub optical_flow_num_frames_to_event: i32,
    pub optical_flow_num_frames_to_reset: i32,
    pub optical_flow_angle_offset: i32,
}

impl Default for RoiConfig {
    /// The kmd's defaults.
    fn default() -> Self {
        RoiConfig {
            occupancy_level_min: 10,
            occupancy_level_med: 35,
            occupancy_level_max: 65,
            occupancy_num_frames_to_event: 5,
            fluidity_level_min: 10,
            fluidity_level_med: 35,
            fluidity_level_max: 65,
            fluidity_num_frames_to_event: 5,
            send_optical_flow_event: false,
            optical_flow_num_frames_to_event: 3,
            optical_flow_num_frames_to_reset: 3,
            optical_flow_angle_offset: 0,
        }
    }
}

/// A region: a polygon of points given as fractions of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    pub id: String,
    pub points: Vec<(f32, f32)>,
    pub config: RoiConfig,
}

pub const DEFAULT_PROCESSING_WIDTH: i32 = 320;
/// KMS's range for processingWidth.
pub const PROCESSING_WIDTHS: std::ops::RangeInclusive<i32> = 160..=1280;

const MOTION_DIFF: i32 = 20;
// A pixel that changed once stays "moving" for three frames (51, 41, 33).
const MOTION_LEVEL: f32 = 30.0;
const STOPPED_DIFF: f32 = 45.0;
const WHITE: [u8; 3] = [255, 255, 255];

/// KMS's level debouncing.
#[derive(Debug, Default, Clone, Copy)]
struct Debounce {
    actual: i32,
    potential: i32,
    count: i32,
}

impl Debounce {
    /// The level to report, when `level` has held for `frames` frames and differs from the last.
    fn feed(&mut self, level: i32, frames: i32) -> Option<i32> {
        if level != self.potential {
            self.potential = level;
            self.count = 1;
        } else {
            self.count = (self.count + 1).min(frames.max(1));
        }
        (self.count >= frames.max(1) && self.actual != self.potential).then(|| {
            self.actual = self.potential;
            self.actual
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct DirectionState {
    actual: i32,
    potential: i32,
    count: i32,
    still: i32,
    last: Option<(f32, f32)>,
}

struct RoiState {
    roi: Roi,
    /// Pixel indices of the polygon at the processing size.
    pixels: Vec<usize>,
    occupancy: Debounce,
    fluidity: Debounce,
    direction: DirectionState,
}

pub struct CrowdDetector {
    rois: Vec<RoiState>,
    processing_width: i32,
    /// The processing size, and the per-pixel state at it.
    size: Option<(usize, usize)>,
    background: Vec<f32>,
    previous: Vec<u8>,
    motion: Vec<f32>,
    events: EventSink,
}

/// Level of a percentage: `inclusive_max` is KMS's fluidity rule (>= max), occupancy uses > max.
fn level(pct: f64, min: i32, med: i32, max: i32, inclusive_max: bool) -> i32 {
    if pct > max as f64 || (inclusive_max && pct >= max as f64) {
        3
    } else if pct > med as f64 {
        2
    } else if pct > min as f64 {
        1
    } else {
        0
    }
}

/// Counter-clockwise degrees (y up) of an image-space shift, snapped to the four directions
/// around `offset`.
fn snapped_angle(dx: f32, dy: f32, offset: i32) -> i32 {
    let a = (-dy).atan2(dx).to_degrees().rem_euclid(360.0);
    let rel = (a - offset as f32).rem_euclid(360.0);
    let sector = (((rel + 45.0) / 90.0).floor() as i32).rem_euclid(4);
    (offset + sector * 90).rem_euclid(360)
}

fn inside(points: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut odd = false;
    let n = points.len();
    for i in 0..n {
        let (xi, yi) = points[i];
        let (xj, yj) = points[(i + n - 1) % n];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            odd = !odd;
        }
    }
    odd
}

impl CrowdDetector {
    pub fn new(rois: Vec<Roi>, events: EventSink) -> CrowdDetector {
        CrowdDetector {
            rois: rois
                .into_iter()
                .map(|roi| RoiState {
                    roi,
                    pixels: Vec::new(),
                    occupancy: Debounce::default(),
                    fluidity: Debounce::default(),
                    // No direction yet (KMS starts at 0, so it never reports a first
                    // rightward motion).
                    direction: DirectionState {
                        actual: -1,
                        potential: -1,
                        count: 0,
                        still: 0,
                        last: None,
                    },
                })
                .collect(),
            processing_width: DEFAULT_PROCESSING_WIDTH,
            size: None,
            background: Vec::new(),
            previous: Vec::new(),
            motion: Vec::new(),
            events,
        }
    }

    pub fn processing_width(&self) -> i32 {
        self.processing_width
    }

    /// Err outside KMS's range.
    pub fn set_processing_width(&mut self, w: i32) -> Result<(), String> {
        if !PROCESSING_WIDTHS.contains(&w) {
            return Err(format!(
                "processingWidth must be within {}..{}",
                PROCESSING_WIDTHS.start(),
                PROCESSING_WIDTHS.end()
            ));
        }
        self.processing_width = w;
        Ok(())
    }

    /// The processing size for a frame, as KMS: an integer scale factor.
    fn processing_size(&self, w: usize, h: usize) -> (usize, usize) {
        let target = w.min(self.processing_width.max(1) as usize);
        let factor = (w / target).max(1);
        (target, (h / factor).max(1))
    }

    fn reset(&mut self, gray: &Gray) {
        let (w, h) = (gray.width, gray.height);
        self.size = Some((w, h));
        self.background = gray.px.iter().map(|p| *p as f32).collect();
        self.previous = gray.px.clone();
        self.motion = vec![0.0; w * h];
        for r in &mut self.rois {
            let pts: Vec<(f32, f32)> = r
                .roi
                .points
                .iter()
                .map(|(x, y)| (x * w as f32, y * h as f32))
                .collect();
            r.pixels = (0..w * h)
                .filter(|i| inside(&pts, (i % w) as f32 + 0.5, (i / w) as f32 + 0.5))
                .collect();
        }
    }

    fn sample(frame: &Frame<'_>, w: usize, h: usize) -> Gray {
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            let sy = y * frame.height / h;
            for x in 0..w {
                px.push(luma(frame.rgb(x * frame.width / w, sy)));
            }
        }
        Gray {
            width: w,
            height: h,
            px,
        }
    }

    fn outline(frame: &mut Frame<'_>, points: &[(f32, f32)]) {
        let n = points.len();
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        for i in 0..n {
            let (x0, y0) = (points[i].0 * fw, points[i].1 * fh);
            let (x1, y1) = (points[(i + 1) % n].0 * fw, points[(i + 1) % n].1 * fh);
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
            for s in 0..=steps {
                let t = s as f32 / steps as f32;
                let x = (x0 + (x1 - x0) * t).round() as i64;
                let y = (y0 + (y1 - y0) * t).round() as i64;
                let x = x.clamp(0, frame.width as i64 - 1) as usize;
                let y = y.clamp(0, frame.height as i64 - 1) as usize;
                frame.set_rgb(x, y, WHITE);
            }
        }
    }
}

/// What each processing pixel is: 1 moving, 2 stopped (occupied but still).
const MOVING: u8 = 1;
const STOPPED: u8 = 2;

impl FrameProcessor for CrowdDetector {
    fn process(&mut self, frame: &mut Frame<'_>, _pts: Option<Duration>) {
        if self.rois.is_empty() {
            return;
        }
        let (w, h) = self.processing_size(frame.width, frame.height);
        let gray = Self::sample(frame, w, h);
        if self.size != Some((w, h)) {
            self.reset(&gray);
        }
        let mut class = vec![0u8; w * h];
        for r in &self.rois {
            for &i in &r.pixels {
                let g = gray.px[i];
                let changed = (g as i32 - self.previous[i] as i32).abs() > MOTION_DIFF;
                self.motion[i] = 0.8 * self.motion[i] + if changed { 0.2 * 255.0 } else { 0.0 };
                let away = (g as f32 - self.background[i]).abs() > STOPPED_DIFF;
                class[i] = if self.motion[i] > MOTION_LEVEL {
                    MOVING
                } else if away {
                    STOPPED
                } else {
                    0
                };
                self.background[i] = 0.98 * self.background[i] + 0.02 * g as f32;
            }
        }
        self.previous = gray.px;

        for r in &mut self.rois {
            let (mut moving, mut stopped) = (0usize, 0usize);
            let (mut sx, mut sy) = (0f64, 0f64);
            for &i in &r.pixels {
                match class[i] {
                    MOVING => {
                        moving += 1;
                        sx += (i % w) as f64;
                        sy += (i / w) as f64;
                    }
                    STOPPED => stopped += 1,
                    _ => {}
                }
            }
            let c = &r.roi.config;
            let area = r.pixels.len().max(1);
            let occupancy = (moving + stopped) as f64 * 100.0 / area as f64;
            // KMS's integer percentage of what is occupied that is still.
            let fluidity = (stopped * 100).checked_div(moving + stopped).unwrap_or(0);
            let lo = level(
                occupancy,
                c.occupancy_level_min,
                c.occupancy_level_med,
                c.occupancy_level_max,
                false,
            );
            if let Some(l) = r.occupancy.feed(lo, c.occupancy_num_frames_to_event) {
                (self.events)(VisionEvent::Occupancy {
                    roi: r.roi.id.clone(),
                    percentage: occupancy as f32,
                    level: l,
                });
            }
            let lf = level(
                fluidity as f64,
                c.fluidity_level_min,
                c.fluidity_level_med,
                c.fluidity_level_max,
                true,
            );
            if let Some(l) = r.fluidity.feed(lf, c.fluidity_num_frames_to_event) {
                (self.events)(VisionEvent::Fluidity {
                    roi: r.roi.id.clone(),
                    percentage: fluidity as f32,
                    level: l,
                });
            }
            if !c.send_optical_flow_event {
                continue;
            }
            let d = &mut r.direction;
            let centroid =
                (moving > 0).then(|| ((sx / moving as f64) as f32, (sy / moving as f64) as f32));
            let shift = match (d.last, centroid) {
                (Some(a), Some(b)) if ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)) > 0.25 => {
                    Some((b.0 - a.0, b.1 - a.1))
                }
                _ => None,
            };
            d.last = centroid;
            let Some((dx, dy)) = shift else {
                d.still += 1;
                if d.still > c.optical_flow_num_frames_to_reset {
                    d.actual = -1;
                    d.potential = -1;
                }
                continue;
            };
            d.still = 0;
            let angle = snapped_angle(dx, dy, c.optical_flow_angle_offset);
            if angle == d.actual {
                continue;
            }
            if angle == d.potential {
                d.count += 1;
            } else {
                d.potential = angle;
                d.count = 1;
            }
            if d.count > c.optical_flow_num_frames_to_event {
                d.actual = angle;
                d.count = 1;
                (self.events)(VisionEvent::Direction {
                    roi: r.roi.id.clone(),
                    angle: angle as f32,
                });
            }
        }

        // Tint what was found, and outline the regions.
        let (fw, fh) = (frame.width, frame.height);
        for y in 0..fh {
            let py = (y * h / fh).min(h - 1);
            for x in 0..fw {
                let k = class[py * w + (x * w / fw).min(w - 1)];
                if k != 0 {
                    let i = (y * fw + x) * 4;
                    frame.data[i + if k == MOVING { 2 } else { 0 }] = 255;
                }
            }
        }
        for r in &self.rois {
            Self::outline(frame, &r.roi.points);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn levels_and_debouncing_are_kms() {
        let table = [
            (5.0, false, 0),
            (10.0, false, 0),
            (10.5, false, 1),
            (36.0, false, 2),
            (65.0, false, 2),
            (65.0, true, 3),
            (70.0, false, 3),
        ];
        for (pct, inclusive, want) in table {
            assert_eq!(level(pct, 10, 35, 65, inclusive), want, "{pct} {inclusive}");
        }
        let mut d = Debounce::default();
        // Level 0 is never reported first; a new level after N frames at it; a flicker resets.
        let seq = [0, 0, 1, 1, 2, 1, 1, 1, 1, 1, 0];
        let got: Vec<_> = seq.iter().map(|l| d.feed(*l, 3)).collect();
        assert_eq!(
            got,
            [
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                Some(1),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn angles_snap_around_the_offset() {
        let table = [
            ((1.0, 0.0), 0, 0),
            ((0.0, -1.0), 0, 90),
            ((-1.0, 0.2), 0, 180),
            ((0.1, 1.0), 0, 270),
            ((1.0, -0.9), 0, 0),
            ((1.0, -1.1), 0, 90),
            ((1.0, -1.0), 45, 45),
            ((-1.0, -0.3), 45, 135),
            ((-1.0, 0.3), 45, 225),
        ];
        for ((dx, dy), offset, want) in table {
            assert_eq!(
                snapped_angle(dx, dy, offset),
                want,
                "{dx},{dy} offset {offset}"
            );
        }
    }

    const W: usize = 160;
    const H: usize = 120;

    /// Light grey with a dark 30×30 box at (x, y).
    fn scene(x: usize, y: usize) -> Vec<u8> {
        let mut d = vec![255u8; W * H * 4];
        let mut f = Frame::new(W, H, &mut d).unwrap();
        for yy in 0..H {
            for xx in 0..W {
                let on = (x..x + 30).contains(&xx) && (y..y + 30).contains(&yy);
                f.set_rgb(xx, yy, if on { [30, 30, 30] } else { [200, 200, 200] });
            }
        }
        d
    }

    #[test]
    fn a_box_moving_in_the_region_occupies_it_and_has_a_direction() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let roi = Roi {
            id: "roi1".into(),
            points: vec![(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)],
            config: RoiConfig {
                send_optical_flow_event: true,
                ..RoiConfig::default()
            },
        };
        let mut c = CrowdDetector::new(vec![roi], Box::new(move |e| s.lock().unwrap().push(e)));
        assert!(c.set_processing_width(100).is_err());
        c.set_processing_width(160).unwrap();
        let mut empty = scene(200, 200);
        c.process(&mut Frame::new(W, H, &mut empty).unwrap(), None);
        // The box walks right through the region's left half, 2 px a frame.
        for i in 0..20 {
            let mut d = scene(5 + 2 * i, 20);
            c.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
            if i == 19 {
                let f = Frame::new(W, H, &mut d).unwrap();
                assert_eq!(f.rgb(80, 30), WHITE, "the region's right edge is outlined");
                assert_eq!(
                    f.rgb(120, 30),
                    [200, 200, 200],
                    "nothing is tinted outside it"
                );
                let inside = f.rgb(5 + 2 * i + 15, 35);
                assert!(
                    inside[0] == 255 || inside[2] == 255,
                    "the box is tinted: {inside:?}"
                );
            }
        }
        let events = seen.lock().unwrap().clone();
        // The box is 900 of the region's 4800 pixels, plus its motion trail: level 1.
        assert!(
            events.iter().any(
                |e| matches!(e, VisionEvent::Occupancy { roi, level: 1, .. } if roi == "roi1")
            ),
            "{events:?}"
        );
        assert!(
            events.contains(&VisionEvent::Direction {
                roi: "roi1".into(),
                angle: 0.0
            }),
            "moving right is 0 degrees: {events:?}"
        );
        // The box leaves: occupancy falls back to 0 and is reported.
        for _ in 0..80 {
            let mut d = scene(200, 200);
            c.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
        }
        let events = seen.lock().unwrap().clone();
        assert!(
            matches!(
                events
                    .iter()
                    .rev()
                    .find(|e| matches!(e, VisionEvent::Occupancy { .. })),
                Some(VisionEvent::Occupancy { level: 0, .. })
            ),
            "{events:?}"
        );
    }

    #[test]
    fn processing_size_uses_an_integer_factor() {
        let c = CrowdDetector::new(Vec::new(), Box::new(|_| {}));
        assert_eq!(c.processing_size(640, 480), (320, 240));
        assert_eq!(c.processing_size(800, 600), (320, 300));
        assert_eq!(c.processing_size(200, 100), (200, 100));
    }
}
