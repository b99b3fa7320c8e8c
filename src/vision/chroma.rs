//! ChromaFilter: the key colour is learnt from a window of the first frames, then every pixel of
//! that colour shows the background picture instead. As KMS: 60 frames of calibration with the
//! window outlined in blue, hue and saturation ranges from the window's histograms (values seen
//! in at least 1.1 % of the samples, KMS's 600 of 60 × 30²), a 3×3 close then open of the mask,
//! the background stretched to the frame, and the video left as it is while there is no
//! background.

use super::{hsv, Frame, FrameProcessor, Mask, Picture, Rect};
use std::sync::Arc;
use std::time::Duration;

const CALIBRATION_FRAMES: u32 = 60;
/// Share of the calibration samples a hue or saturation bin needs to be part of the key.
const BIN_SHARE: f64 = 600.0 / (60.0 * 900.0);
/// The darkest pixel that can be keyed (KMS's V_MIN).
const MIN_VALUE: f32 = 30.0;
const BLUE: [u8; 3] = [0, 0, 255];
const HUE_MARGIN: f32 = 6.0;
const SATURATION_MARGIN: f32 = 25.0;

/// The learnt key: inclusive ranges of hue (degrees) and saturation (0-255).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    pub hue: (f32, f32),
    pub saturation: (f32, f32),
}

impl Key {
    fn matches(&self, c: [u8; 3]) -> bool {
        let (h, s, v) = hsv(c);
        v >= MIN_VALUE
            && (self.hue.0..=self.hue.1).contains(&h)
            && (self.saturation.0..=self.saturation.1).contains(&s)
    }
}

pub struct Chroma {
    window: Rect,
    frames: u32,
    /// 2°-wide hue bins and unit saturation bins of the window's pixels.
    hue_bins: Vec<u64>,
    sat_bins: Vec<u64>,
    samples: u64,
    key: Option<Key>,
    /// The key over RGB at 5 bits a channel: one lookup per pixel instead of an HSV conversion.
    lut: Vec<bool>,
    background: Option<Arc<Picture>>,
    /// The background at the frame's size.
    scaled: Option<Picture>,
}

impl Chroma {
    /// KMS clamps a negative corner to 0.
    pub fn new(window: Rect) -> Chroma {
        Chroma {
            window: Rect {
                x: window.x.max(0),
                y: window.y.max(0),
                ..window
            },
            frames: 0,
            hue_bins: vec![0; 180],
            sat_bins: vec![0; 256],
            samples: 0,
            key: None,
            lut: Vec::new(),
            background: None,
            scaled: None,
        }
    }

    /// setBackground (Some) / unsetBackground (None).
    pub fn set_background(&mut self, picture: Option<Arc<Picture>>) {
        self.background = picture;
        self.scaled = None;
    }

    pub fn key(&self) -> Option<Key> {
        self.key
    }

    fn calibrate(&mut self, frame: &mut Frame<'_>) {
        if let Some((x0, y0, x1, y1)) = self.window.clip(frame.width, frame.height) {
            for y in y0..y1 {
                for x in x0..x1 {
                    let (h, s, _) = hsv(frame.rgb(x, y));
                    self.hue_bins[((h / 2.0) as usize).min(179)] += 1;
                    self.sat_bins[(s as usize).min(255)] += 1;
                    self.samples += 1;
                }
            }
        }
        frame.outline(self.window, 1, BLUE);
        self.frames += 1;
        if self.frames == CALIBRATION_FRAMES {
            let least = (self.samples as f64 * BIN_SHARE).max(1.0) as u64;
            let span = |bins: &[u64]| {
                let first = bins.iter().position(|n| *n >= least)?;
                let last = bins.iter().rposition(|n| *n >= least)?;
                Some((first, last))
            };
            // A margin beyond what the window showed: a static window's histogram is a few bins
            // wide, and the codec moves the same backdrop elsewhere in the frame by more (KMS
            // adds none).
            let hue = span(&self.hue_bins).map_or((0.0, 360.0), |(a, b)| {
                (
                    a as f32 * 2.0 - HUE_MARGIN,
                    b as f32 * 2.0 + 2.0 + HUE_MARGIN,
                )
            });
            let saturation = span(&self.sat_bins).map_or((0.0, 255.0), |(a, b)| {
                (
                    a as f32 - SATURATION_MARGIN,
                    b as f32 + 1.0 + SATURATION_MARGIN,
                )
            });
            let key = Key { hue, saturation };
            self.lut = (0..1usize << 15)
                .map(|i| {
                    let c = |shift: usize| (((i >> shift) & 31) << 3 | 4) as u8;
                    key.matches([c(10), c(5), c(0)])
                })
                .collect();
            self.key = Some(key);
            tracing::debug!(?self.key, "chroma key learnt");
        }
    }
}

impl FrameProcessor for Chroma {
    fn process(&mut self, frame: &mut Frame<'_>, _pts: Option<Duration>) {
        if self.window.width <= 0 || self.window.height <= 0 {
            return;
        }
        if self.frames < CALIBRATION_FRAMES {
            self.calibrate(frame);
            return;
        }
        let (Some(_), Some(bg)) = (self.key, self.background.as_ref()) else {
            return;
        };
        let (w, h) = (frame.width, frame.height);
        if self
            .scaled
            .as_ref()
            .is_none_or(|s| (s.width, s.height) != (w, h))
        {
            self.scaled = Some(bg.resized(w, h));
        }
        let Some(scaled) = self.scaled.as_ref() else {
            return;
        };
        let mut mask = Mask::new(w, h);
        for (m, px) in mask.px.iter_mut().zip(frame.data.chunks_exact(4)) {
            let i = (px[0] as usize >> 3) << 10 | (px[1] as usize >> 3) << 5 | px[2] as usize >> 3;
            *m = self.lut[i];
        }
        let mask = mask.close(1).open(1);
        for y in 0..h {
            for x in 0..w {
                if mask.px[y * w + x] {
                    let [r, g, b, _] = scaled.pixel(x, y);
                    frame.set_rgb(x, y, [r, g, b]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREEN: [u8; 3] = [30, 220, 40];
    const GREY: [u8; 3] = [128, 128, 128];

    /// 64×48: green everywhere but a grey box at x 20-44, y 16-32.
    fn scene() -> Vec<u8> {
        let mut d = vec![255u8; 64 * 48 * 4];
        let mut f = Frame::new(64, 48, &mut d).unwrap();
        for y in 0..48 {
            for x in 0..64 {
                let subject = (20..44).contains(&x) && (16..32).contains(&y);
                f.set_rgb(x, y, if subject { GREY } else { GREEN });
            }
        }
        d
    }

    fn run(c: &mut Chroma, frames: u32) -> Vec<u8> {
        let mut last = Vec::new();
        for _ in 0..frames {
            let mut d = scene();
            let mut f = Frame::new(64, 48, &mut d).unwrap();
            c.process(&mut f, None);
            last = d;
        }
        last
    }

    fn at(d: &mut [u8], x: usize, y: usize) -> [u8; 3] {
        Frame::new(64, 48, d).unwrap().rgb(x, y)
    }

    #[test]
    fn calibrates_then_keys_the_colour_out() {
        let mut c = Chroma::new(Rect {
            x: 2,
            y: 2,
            width: 10,
            height: 10,
        });
        let magenta = Picture::new(1, 1, vec![255, 0, 255, 255]).unwrap();
        c.set_background(Some(Arc::new(magenta)));
        // Calibration: the window is outlined in blue, nothing is replaced.
        let mut d = run(&mut c, 59);
        assert_eq!(at(&mut d, 2, 5), BLUE);
        assert_eq!(at(&mut d, 50, 40), GREEN);
        assert_eq!(c.key(), None);
        let mut d = run(&mut c, 2);
        let key = c.key().unwrap();
        assert!(key.hue.0 <= 124.0 && key.hue.1 >= 124.0, "{key:?}");
        assert_eq!(
            at(&mut d, 50, 40),
            [255, 0, 255],
            "the backdrop shows the background"
        );
        assert_eq!(at(&mut d, 2, 5), [255, 0, 255], "the outline is gone");
        assert_eq!(at(&mut d, 30, 24), GREY, "the subject stays");
        // Without a background the video is left as it is.
        c.set_background(None);
        let mut d = run(&mut c, 1);
        assert_eq!(at(&mut d, 50, 40), GREEN);
    }

    #[test]
    fn an_empty_or_outside_window_never_breaks() {
        let mut none = Chroma::new(Rect {
            x: 0,
            y: 0,
            width: 0,
            height: 0,
        });
        let mut d = run(&mut none, 70);
        assert_eq!(at(&mut d, 0, 0), GREEN);
        let mut outside = Chroma::new(Rect {
            x: 500,
            y: -7,
            width: 30,
            height: 30,
        });
        outside.set_background(Some(Arc::new(Picture::new(1, 1, vec![0; 4]).unwrap())));
        run(&mut outside, 70);
        // No samples: every hue and saturation, so everything bright enough is keyed.
        assert_eq!(outside.key().map(|k| k.hue), Some((0.0, 360.0)));
    }
}
