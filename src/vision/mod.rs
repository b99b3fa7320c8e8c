//! Image processing for KMS's optional modules (ChromaFilter, CrowdDetectorFilter,
//! PlateDetectorFilter, PointerDetectorFilter): plain code on RGBA frames. It knows nothing of
//! GStreamer (the bridge hands it frames) nor of JSON (it reports [`VisionEvent`]s).

pub mod chroma;
pub mod crowd;
pub mod plate;
pub mod pointer;

use std::time::Duration;

/// One RGBA frame, rows packed (`4 * width` bytes each).
pub struct Frame<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a mut [u8],
}

/// What sees, and may change, every frame of a filter.
pub trait FrameProcessor: Send {
    fn process(&mut self, frame: &mut Frame<'_>, pts: Option<Duration>);
}

/// What the processors report, for the object model to raise as Kurento events.
#[derive(Debug, Clone, PartialEq)]
pub enum VisionEvent {
    WindowIn(String),
    WindowOut(String),
    Occupancy {
        roi: String,
        percentage: f32,
        level: i32,
    },
    Fluidity {
        roi: String,
        percentage: f32,
        level: i32,
    },
    Direction {
        roi: String,
        angle: f32,
    },
    Plate(String),
}

/// Where a processor sends its events (never blocks the streaming thread).
pub type EventSink = Box<dyn Fn(VisionEvent) + Send + Sync>;

/// A rectangle in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    pub fn contains(&self, x: i32, y: i32) -> bool {
        let (x, y) = (x as i64, y as i64);
        x >= self.x as i64 && y >= self.y as i64 && x < self.right() && y < self.bottom()
    }
    /// One past the last column and row (never overflows: a client may send i32::MAX sizes).
    pub fn right(&self) -> i64 {
        self.x as i64 + self.width as i64
    }
    pub fn bottom(&self) -> i64 {
        self.y as i64 + self.height as i64
    }
    /// The part inside a `w`×`h` frame, as (x0, y0, x1, y1) with x1/y1 exclusive; None if empty.
    pub fn clip(&self, w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
        let x0 = self.x.max(0) as usize;
        let y0 = self.y.max(0) as usize;
        let x1 = (self.x.saturating_add(self.width).max(0) as usize).min(w);
        let y1 = (self.y.saturating_add(self.height).max(0) as usize).min(h);
        (x0 < x1 && y0 < y1).then_some((x0, y0, x1, y1))
    }
}

impl<'a> Frame<'a> {
    /// None when `data` does not hold exactly `width`×`height` RGBA pixels.
    pub fn new(width: usize, height: usize, data: &'a mut [u8]) -> Option<Frame<'a>> {
        (width > 0 && height > 0 && data.len() == width * height * 4).then_some(Frame {
            width,
            height,
            data,
        })
    }

    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 4;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    pub fn set_rgb(&mut self, x: usize, y: usize, c: [u8; 3]) {
        let i = (y * self.width + x) * 4;
        self.data[i..i + 3].copy_from_slice(&c);
    }

    /// `alpha` of `c` over the pixel (0 keeps it, 1 replaces it).
    pub fn blend(&mut self, x: usize, y: usize, c: [u8; 3], alpha: f32) {
        let i = (y * self.width + x) * 4;
        for (d, c) in self.data[i..i + 3].iter_mut().zip(c) {
            let old = *d as f32;
            *d = (old + (c as f32 - old) * alpha).round() as u8;
        }
    }

    /// A rectangle's outline, `thickness` pixels inside its edge.
    pub fn outline(&mut self, r: Rect, thickness: i32, c: [u8; 3]) {
        let Some((x0, y0, x1, y1)) = r.clip(self.width, self.height) else {
            return;
        };
        let t = thickness.max(1) as i64;
        for y in y0..y1 {
            for x in x0..x1 {
                let (xi, yi) = (x as i64, y as i64);
                let edge = xi < r.x as i64 + t
                    || xi >= r.right() - t
                    || yi < r.y as i64 + t
                    || yi >= r.bottom() - t;
                if edge {
                    self.set_rgb(x, y, c);
                }
            }
        }
    }

    /// Luma (BT.601) of every pixel, each `step`-th pixel across and down.
    pub fn gray(&self, step: usize) -> Gray {
        let step = step.max(1);
        let w = self.width.div_ceil(step);
        let h = self.height.div_ceil(step);
        let mut px = Vec::with_capacity(w * h);
        for y in (0..self.height).step_by(step) {
            for x in (0..self.width).step_by(step) {
                px.push(luma(self.rgb(x, y)));
            }
        }
        Gray {
            width: w,
            height: h,
            px,
        }
    }
}

/// Luma (BT.601, integer weights) of an RGB pixel.
pub fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((r as u32 * 77 + g as u32 * 150 + b as u32 * 29) >> 8) as u8
}

/// An 8-bit grey image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub px: Vec<u8>,
}

impl Gray {
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.px[y * self.width + x]
    }
}

/// Hue in degrees (0-360), saturation and value (0-255), as OpenCV's HSV but with a full-range hue.
pub fn hsv([r, g, b]: [u8; 3]) -> (f32, f32, f32) {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let s = if max > 0.0 { d / max * 255.0 } else { 0.0 };
    let h = if d == 0.0 {
        0.0
    } else if max == r {
        60.0 * ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    (h, s, max)
}

/// The distance between two hues on the colour circle (0-180).
pub fn hue_distance(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// A range of colours learnt from a region: the hue around the region's mean (a circular mean),
/// and the saturation and value the region spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColourRange {
    pub hue: f32,
    pub hue_tolerance: f32,
    pub min_saturation: f32,
    pub min_value: f32,
}

impl ColourRange {
    /// Learns the colour of `r` in `frame` from its coloured pixels (greys and the backdrop's
    /// compression noise say nothing of a hue): None when fewer than 20 of them (KMS's
    /// histogram threshold) are there.
    pub fn learn(frame: &Frame<'_>, r: Rect, hue_tolerance: f32) -> Option<ColourRange> {
        const COLOURED: f32 = 60.0;
        let (x0, y0, x1, y1) = r.clip(frame.width, frame.height)?;
        let (mut sx, mut sy) = (0.0f64, 0.0f64);
        let mut sats = Vec::new();
        let mut vals = Vec::new();
        for y in y0..y1 {
            for x in x0..x1 {
                let (h, s, v) = hsv(frame.rgb(x, y));
                if s < COLOURED || v < 30.0 {
                    continue;
                }
                let a = (h as f64).to_radians();
                sx += a.cos();
                sy += a.sin();
                sats.push(s);
                vals.push(v);
            }
        }
        if sats.len() < 20 {
            return None;
        }
        let p10 = |v: &mut Vec<f32>| {
            v.sort_by(f32::total_cmp);
            v[v.len() / 10]
        };
        Some(ColourRange {
            hue: (sy.atan2(sx).to_degrees() as f32).rem_euclid(360.0),
            hue_tolerance,
            min_saturation: (p10(&mut sats) * 0.6).max(50.0),
            min_value: (p10(&mut vals) * 0.5).max(30.0),
        })
    }

    pub fn matches(&self, c: [u8; 3]) -> bool {
        let (h, s, v) = hsv(c);
        s >= self.min_saturation
            && v >= self.min_value
            && hue_distance(h, self.hue) <= self.hue_tolerance
    }
}

/// An owned RGBA picture (a background or a window's icon), rows packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl Picture {
    /// None when `rgba` does not hold `width`×`height` pixels.
    pub fn new(width: usize, height: usize, rgba: Vec<u8>) -> Option<Picture> {
        (width > 0 && height > 0 && rgba.len() == width * height * 4).then_some(Picture {
            width,
            height,
            rgba,
        })
    }

    /// Stretched to `w`×`h` (nearest pixel: backgrounds and icons need no better).
    pub fn resized(&self, w: usize, h: usize) -> Picture {
        let mut rgba = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            let sy = (y * self.height / h.max(1)).min(self.height - 1);
            for x in 0..w {
                let sx = (x * self.width / w.max(1)).min(self.width - 1);
                let i = (sy * self.width + sx) * 4;
                rgba.extend_from_slice(&self.rgba[i..i + 4]);
            }
        }
        Picture {
            width: w,
            height: h,
            rgba,
        }
    }

    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let i = (y * self.width + x) * 4;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// A binary image (true = set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub px: Vec<bool>,
}

/// A connected group of set pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blob {
    pub area: usize,
    pub cx: f32,
    pub cy: f32,
    pub bbox: Rect,
}

impl Mask {
    pub fn new(width: usize, height: usize) -> Mask {
        Mask {
            width,
            height,
            px: vec![false; width * height],
        }
    }

    pub fn at(&self, x: usize, y: usize) -> bool {
        self.px[y * self.width + x]
    }

    pub fn count(&self) -> usize {
        self.px.iter().filter(|p| **p).count()
    }

    /// Set pixels in each (2r+1)² window around every pixel, by summed areas (any radius costs
    /// the same).
    fn window_counts(&self, r: usize) -> Vec<u32> {
        let (w, h) = (self.width, self.height);
        let mut sat = vec![0u32; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0u32;
            for x in 0..w {
                row += self.px[y * w + x] as u32;
                sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
            }
        }
        let mut out = vec![0u32; w * h];
        for y in 0..h {
            let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
            for x in 0..w {
                let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                out[y * w + x] = sat[y1 * (w + 1) + x1] + sat[y0 * (w + 1) + x0]
                    - sat[y0 * (w + 1) + x1]
                    - sat[y1 * (w + 1) + x0];
            }
        }
        out
    }

    pub fn dilate(&self, r: usize) -> Mask {
        let counts = self.window_counts(r);
        Mask {
            px: counts.iter().map(|c| *c > 0).collect(),
            ..*self
        }
    }

    /// A pixel stays set when its whole window (inside the frame) is set.
    pub fn erode(&self, r: usize) -> Mask {
        let counts = self.window_counts(r);
        let (w, h) = (self.width, self.height);
        let mut px = vec![false; w * h];
        for y in 0..h {
            let rows = ((y + r + 1).min(h) - y.saturating_sub(r)) as u32;
            for x in 0..w {
                let cols = ((x + r + 1).min(w) - x.saturating_sub(r)) as u32;
                px[y * w + x] = counts[y * w + x] == rows * cols;
            }
        }
        Mask { px, ..*self }
    }

    /// Fills gaps narrower than the window.
    pub fn close(&self, r: usize) -> Mask {
        self.dilate(r).erode(r)
    }

    /// Removes specks smaller than the window.
    pub fn open(&self, r: usize) -> Mask {
        self.erode(r).dilate(r)
    }

    /// Every 4-connected group of set pixels.
    pub fn blobs(&self) -> Vec<Blob> {
        let (w, h) = (self.width, self.height);
        let mut seen = vec![false; w * h];
        let mut out = Vec::new();
        let mut stack = Vec::new();
        for start in 0..w * h {
            if !self.px[start] || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let (mut area, mut sx, mut sy) = (0usize, 0f64, 0f64);
            let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
            while let Some(i) = stack.pop() {
                let (x, y) = (i % w, i / w);
                area += 1;
                sx += x as f64;
                sy += y as f64;
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                let mut visit = |j: usize| {
                    if self.px[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < w {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - w);
                }
                if y + 1 < h {
                    visit(i + w);
                }
            }
            out.push(Blob {
                area,
                cx: (sx / area as f64) as f32,
                cy: (sy / area as f64) as f32,
                bbox: Rect {
                    x: x0 as i32,
                    y: y0 as i32,
                    width: (x1 - x0 + 1) as i32,
                    height: (y1 - y0 + 1) as i32,
                },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_of_primaries() {
        let table = [
            ([255, 0, 0], 0.0),
            ([0, 255, 0], 120.0),
            ([0, 0, 255], 240.0),
            ([255, 0, 255], 300.0),
            ([255, 255, 0], 60.0),
        ];
        for (c, h) in table {
            let (hh, s, v) = hsv(c);
            assert!((hh - h).abs() < 0.01 && s == 255.0 && v == 255.0, "{c:?}");
        }
        assert_eq!(hsv([10, 10, 10]).1, 0.0);
        assert_eq!(hue_distance(350.0, 10.0), 20.0);
        assert_eq!(hue_distance(90.0, 270.0), 180.0);
    }

    #[test]
    fn frames_of_the_wrong_size_are_refused() {
        let mut d = vec![0u8; 4 * 6];
        assert!(Frame::new(2, 3, &mut d).is_some());
        assert!(Frame::new(3, 3, &mut d).is_none());
        assert!(Frame::new(0, 0, &mut []).is_none());
    }

    #[test]
    fn a_learnt_colour_matches_itself_and_not_others() {
        let mut d = vec![0u8; 4 * 20 * 10];
        let mut f = Frame::new(20, 10, &mut d).unwrap();
        for y in 0..10 {
            for x in 0..20 {
                f.set_rgb(
                    x,
                    y,
                    if x < 10 {
                        [20, 200, 30]
                    } else {
                        [200, 200, 200]
                    },
                );
            }
        }
        let all = Rect {
            x: 0,
            y: 0,
            width: 10,
            height: 10,
        };
        let green = ColourRange::learn(&f, all, 20.0).unwrap();
        assert!(green.matches([30, 180, 40]));
        assert!(!green.matches([200, 30, 30]));
        assert!(!green.matches([200, 200, 200]));
        let grey = Rect {
            x: 10,
            y: 0,
            width: 10,
            height: 10,
        };
        assert_eq!(ColourRange::learn(&f, grey, 20.0), None);
        let outside = Rect {
            x: 30,
            y: 0,
            width: 10,
            height: 10,
        };
        assert_eq!(ColourRange::learn(&f, outside, 20.0), None);
    }

    fn mask(rows: &[&str]) -> Mask {
        let mut m = Mask::new(rows[0].len(), rows.len());
        for (y, r) in rows.iter().enumerate() {
            for (x, c) in r.chars().enumerate() {
                m.px[y * m.width + x] = c == '#';
            }
        }
        m
    }

    #[test]
    fn morphology_and_blobs() {
        let m = mask(&[
            "#.......", "........", "..###...", "..#.#...", "..###..#", "......##",
        ]);
        // Opening removes the lone specks and keeps nothing thinner than 3×3.
        assert_eq!(m.open(1).count(), 0);
        // Closing fills the ring's hole.
        assert!(m.close(1).at(3, 3));
        let blobs = m.blobs();
        assert_eq!(blobs.len(), 3);
        let ring = blobs.iter().find(|b| b.area == 8).unwrap();
        assert_eq!((ring.cx, ring.cy), (3.0, 3.0));
        assert_eq!(
            ring.bbox,
            Rect {
                x: 2,
                y: 2,
                width: 3,
                height: 3
            }
        );
        let corner = blobs.iter().find(|b| b.area == 3).unwrap();
        assert_eq!(
            corner.bbox,
            Rect {
                x: 6,
                y: 4,
                width: 2,
                height: 2
            }
        );
        let full = mask(&["###", "###", "###"]);
        assert_eq!(full.erode(1), full, "the frame's edge does not erode");
        assert_eq!(Mask::new(3, 3).dilate(2).count(), 0);
    }

    #[test]
    fn pictures_stretch() {
        let p = Picture::new(2, 1, vec![255, 0, 0, 255, 0, 0, 255, 255]).unwrap();
        let r = p.resized(4, 2);
        assert_eq!((r.width, r.height), (4, 2));
        assert_eq!(r.pixel(1, 1), [255, 0, 0, 255]);
        assert_eq!(r.pixel(2, 0), [0, 0, 255, 255]);
        assert!(Picture::new(2, 2, vec![0; 8]).is_none());
    }

    #[test]
    fn clipping_and_outlines_stay_inside_the_frame() {
        let r = Rect {
            x: -5,
            y: 8,
            width: 10,
            height: 10,
        };
        assert_eq!(r.clip(20, 10), Some((0, 8, 5, 10)));
        assert_eq!(
            Rect {
                x: 30,
                y: 0,
                width: 5,
                height: 5
            }
            .clip(20, 10),
            None
        );
        let mut d = vec![0u8; 4 * 20 * 10];
        let mut f = Frame::new(20, 10, &mut d).unwrap();
        f.outline(
            Rect {
                x: 2,
                y: 2,
                width: 6,
                height: 6,
            },
            1,
            [255, 0, 0],
        );
        assert_eq!(f.rgb(2, 2), [255, 0, 0]);
        assert_eq!(f.rgb(4, 4), [0, 0, 0]);
        assert_eq!(f.rgb(7, 5), [255, 0, 0]);
        f.outline(
            Rect {
                x: 15,
                y: 5,
                width: 100,
                height: 100,
            },
            2,
            [0, 255, 0],
        );
    }
}
