//! PointerDetectorFilter: a coloured pointer learnt from the calibration region is tracked, and
//! WindowIn / WindowOut raised as it enters and leaves the windows. As KMS: the calibration
//! region is outlined in white every frame; windows are drawn (white outlines, green while the
//! pointer is inside, or their images) and the pointer as a filled red disc of radius 10 once a
//! colour is learnt; the pointer keeps its last place when it is not seen; the window reported is
//! the last one (in the order they were added) that holds the pointer, and moving straight from
//! one window into another sends only WindowIn for the new one.
//!
//! Better than KMS: the colour is learnt from the saturated pixels of the region only (KMS's
//! histograms also take the backdrop's compression noise, which can widen the range to the whole
//! backdrop), from the frame before anything is drawn on it, and the pointer is the largest blob
//! of that colour (KMS looks for circles and takes the last of several).

use super::{ColourRange, EventSink, Frame, FrameProcessor, Mask, Picture, Rect, VisionEvent};
use std::sync::Arc;
use std::time::Duration;

const WHITE: [u8; 3] = [255, 255, 255];
const GREEN: [u8; 3] = [0, 255, 0];
const RED: [u8; 3] = [255, 0, 0];
const POINTER_RADIUS: i32 = 10;
/// ±hue (degrees) around the learnt colour; KMS's ±5 OpenCV units.
const HUE_TOLERANCE: f32 = 12.0;
/// The mask is built on every STEP-th pixel across and down.
const STEP: usize = 2;
/// The smallest pointer, in frame pixels.
const MIN_AREA: usize = 60;

pub struct Window {
    pub id: String,
    pub rect: Rect,
    /// Drawn while the pointer is outside (else a white outline).
    pub image: Option<Arc<Picture>>,
    /// Drawn while the pointer is inside (else `image` brightened, else a green outline).
    pub active_image: Option<Arc<Picture>>,
    /// 0 = opaque (KMS's default), 1 = invisible.
    pub transparency: f32,
}

pub struct PointerDetector {
    calibration: Rect,
    windows: Vec<Window>,
    colour: Option<ColourRange>,
    calibrate: bool,
    pointer: (i32, i32),
    inside: Option<String>,
    events: EventSink,
}

impl PointerDetector {
    pub fn new(calibration: Rect, windows: Vec<Window>, events: EventSink) -> PointerDetector {
        PointerDetector {
            calibration,
            windows,
            colour: None,
            calibrate: false,
            pointer: (0, 0),
            inside: None,
            events,
        }
    }

    /// addWindow: one of the same id is replaced (in its place).
    pub fn add_window(&mut self, w: Window) {
        match self.windows.iter_mut().find(|x| x.id == w.id) {
            Some(old) => *old = w,
            None => self.windows.push(w),
        }
    }

    /// A window's image (or active image) arrived; ignored when the window is gone.
    pub fn set_window_image(&mut self, id: &str, active: bool, picture: Arc<Picture>) {
        if let Some(w) = self.windows.iter_mut().find(|w| w.id == id) {
            let slot = if active {
                &mut w.active_image
            } else {
                &mut w.image
            };
            *slot = Some(picture);
        }
    }

    pub fn remove_window(&mut self, id: &str) {
        self.windows.retain(|w| w.id != id);
    }

    pub fn clear_windows(&mut self) {
        self.windows.clear();
    }

    /// trackColorFromCalibrationRegion: learnt from the next frame.
    pub fn track_colour_from_calibration_region(&mut self) {
        self.calibrate = true;
    }

    pub fn colour(&self) -> Option<ColourRange> {
        self.colour
    }

    pub fn pointer(&self) -> (i32, i32) {
        self.pointer
    }

    fn find_pointer(&self, frame: &Frame<'_>, colour: &ColourRange) -> Option<(i32, i32)> {
        let (w, h) = (frame.width.div_ceil(STEP), frame.height.div_ceil(STEP));
        let mut mask = Mask::new(w, h);
        for y in 0..h {
            for x in 0..w {
                mask.px[y * w + x] = colour.matches(frame.rgb(x * STEP, y * STEP));
            }
        }
        // Specks out, then the pointer's own gaps closed (KMS closes 21×21 and opens 11×11; a
        // close that wide drags a pointer near the frame's edge onto it).
        let mask = mask.open(1).close(2);
        let best = mask.blobs().into_iter().max_by_key(|b| b.area)?;
        (best.area * STEP * STEP >= MIN_AREA).then(|| {
            (
                (best.cx * STEP as f32).round() as i32,
                (best.cy * STEP as f32).round() as i32,
            )
        })
    }

    fn draw_window(frame: &mut Frame<'_>, w: &Window, active: bool) {
        let picture = match (active, &w.image, &w.active_image) {
            (true, _, Some(a)) => Some((a, false)),
            (true, Some(i), None) => Some((i, true)),
            (false, Some(i), _) => Some((i, false)),
            _ => None,
        };
        let Some((picture, brighten)) = picture else {
            frame.outline(w.rect, 1, if active { GREEN } else { WHITE });
            return;
        };
        let Some((x0, y0, x1, y1)) = w.rect.clip(frame.width, frame.height) else {
            return;
        };
        // Stretched to the window by sampling: a window may be far larger than the frame.
        let (rw, rh) = (w.rect.width.max(1) as i64, w.rect.height.max(1) as i64);
        let opacity = (1.0 - w.transparency).clamp(0.0, 1.0);
        for y in y0..y1 {
            let sy = ((y as i64 - w.rect.y as i64) * picture.height as i64 / rh) as usize;
            for x in x0..x1 {
                let sx = ((x as i64 - w.rect.x as i64) * picture.width as i64 / rw) as usize;
                let [r, mut g, b, a] =
                    picture.pixel(sx.min(picture.width - 1), sy.min(picture.height - 1));
                if brighten {
                    // KMS "saturates" an inactive image's green channel to show it active.
                    g = g.saturating_add(((255 - g as u16) / 2) as u8);
                }
                frame.blend(x, y, [r, g, b], opacity * a as f32 / 255.0);
            }
        }
    }

    fn draw_pointer(frame: &mut Frame<'_>, (px, py): (i32, i32)) {
        let r = POINTER_RADIUS;
        for y in (py - r).max(0)..(py + r + 1).min(frame.height as i32) {
            for x in (px - r).max(0)..(px + r + 1).min(frame.width as i32) {
                if (x - px).pow(2) + (y - py).pow(2) <= r * r {
                    frame.set_rgb(x as usize, y as usize, RED);
                }
            }
        }
    }
}

impl FrameProcessor for PointerDetector {
    fn process(&mut self, frame: &mut Frame<'_>, _pts: Option<Duration>) {
        let c = self.calibration;
        if c.x == 0 && c.y == 0 && c.width == 0 && c.height == 0 {
            return;
        }
        if std::mem::take(&mut self.calibrate) {
            match ColourRange::learn(frame, c, HUE_TOLERANCE) {
                Some(colour) => {
                    tracing::debug!(?colour, "pointer colour learnt");
                    self.colour = Some(colour);
                }
                None => tracing::debug!("no colour in the calibration region"),
            }
        }
        let Some(colour) = self.colour else {
            frame.outline(c, 1, WHITE);
            return;
        };
        if let Some(p) = self.find_pointer(frame, &colour) {
            self.pointer = p;
        }
        frame.outline(c, 1, WHITE);
        let (px, py) = self.pointer;
        // KMS's test is strict on every side.
        let holds =
            |r: &Rect| px > r.x && py > r.y && (px as i64) < r.right() && (py as i64) < r.bottom();
        let now = self
            .windows
            .iter()
            .rev()
            .find(|w| holds(&w.rect))
            .map(|w| w.id.clone());
        for w in &self.windows {
            Self::draw_window(frame, w, now.as_ref() == Some(&w.id));
        }
        Self::draw_pointer(frame, self.pointer);
        match (&now, &self.inside) {
            (None, Some(prev)) => (self.events)(VisionEvent::WindowOut(prev.clone())),
            (Some(cur), prev) if prev.as_ref() != Some(cur) => {
                (self.events)(VisionEvent::WindowIn(cur.clone()))
            }
            _ => {}
        }
        self.inside = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const W: usize = 160;
    const H: usize = 120;
    const BLUE: [u8; 3] = [20, 40, 230];

    /// Grey, with a blue disc of radius 6 at (x, y).
    fn scene(x: i32, y: i32) -> Vec<u8> {
        let mut d = vec![255u8; W * H * 4];
        let mut f = Frame::new(W, H, &mut d).unwrap();
        for yy in 0..H as i32 {
            for xx in 0..W as i32 {
                let on = (xx - x).pow(2) + (yy - y).pow(2) <= 36;
                f.set_rgb(
                    xx as usize,
                    yy as usize,
                    if on { BLUE } else { [120, 120, 120] },
                );
            }
        }
        d
    }

    fn window(id: &str, x: i32, y: i32) -> Window {
        Window {
            id: id.into(),
            rect: Rect {
                x,
                y,
                width: 30,
                height: 30,
            },
            image: None,
            active_image: None,
            transparency: 0.0,
        }
    }

    #[test]
    fn tracks_the_pointer_through_the_windows() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut p = PointerDetector::new(
            Rect {
                x: 2,
                y: 2,
                width: 20,
                height: 20,
            },
            vec![window("a", 100, 10)],
            Box::new(move |e| s.lock().unwrap().push(e)),
        );
        p.add_window(window("b", 100, 41));
        let step = |p: &mut PointerDetector, x, y| {
            let mut d = scene(x, y);
            let mut f = Frame::new(W, H, &mut d).unwrap();
            p.process(&mut f, None);
            d
        };
        // Not calibrated: no tracking, no windows, only the calibration outline.
        let mut d = step(&mut p, 115, 25);
        assert_eq!(Frame::new(W, H, &mut d).unwrap().rgb(2, 10), WHITE);
        assert_eq!(
            Frame::new(W, H, &mut d).unwrap().rgb(100, 20),
            [120, 120, 120]
        );
        assert!(seen.lock().unwrap().is_empty());
        p.track_colour_from_calibration_region();
        step(&mut p, 12, 12);
        assert!(p.colour().is_some());
        let (x, y) = p.pointer();
        assert!((x - 12).abs() <= 1 && (y - 12).abs() <= 1, "{x},{y}");
        for (x, y) in [(115, 25), (116, 26), (115, 56), (60, 60), (60, 90)] {
            let mut d = step(&mut p, x, y);
            let f = Frame::new(W, H, &mut d).unwrap();
            assert_eq!(
                f.rgb(x as usize, y as usize),
                RED,
                "the pointer is drawn at {x},{y}"
            );
        }
        // Out of sight: the pointer stays where it was last seen.
        let mut d = vec![120u8; W * H * 4];
        p.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
        let (x, y) = p.pointer();
        assert!((x - 60).abs() <= 1 && (y - 90).abs() <= 1, "{x},{y}");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                VisionEvent::WindowIn("a".into()),
                VisionEvent::WindowIn("b".into()),
                VisionEvent::WindowOut("b".into()),
            ]
        );
        p.remove_window("a");
        p.clear_windows();
        step(&mut p, 115, 25);
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn hostile_windows_cost_nothing() {
        let mut p = PointerDetector::new(
            Rect {
                x: 2,
                y: 2,
                width: 20,
                height: 20,
            },
            Vec::new(),
            Box::new(|_| {}),
        );
        let icon = Arc::new(Picture::new(1, 1, vec![0, 0, 0, 255]).unwrap());
        for rect in [
            Rect {
                x: i32::MAX,
                y: i32::MAX,
                width: i32::MAX,
                height: i32::MAX,
            },
            Rect {
                x: i32::MIN,
                y: i32::MIN,
                width: i32::MAX,
                height: i32::MAX,
            },
            Rect {
                x: 0,
                y: 0,
                width: -5,
                height: 0,
            },
            Rect {
                x: -10,
                y: -10,
                width: 1_000_000_000,
                height: 1_000_000_000,
            },
        ] {
            p.add_window(Window {
                rect,
                image: Some(icon.clone()),
                ..window("w", 0, 0)
            });
            p.track_colour_from_calibration_region();
            let mut d = scene(12, 12);
            p.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
        }
    }

    #[test]
    fn windows_are_drawn_as_kms_draws_them() {
        let mut p = PointerDetector::new(
            Rect {
                x: 2,
                y: 2,
                width: 20,
                height: 20,
            },
            vec![window("a", 100, 10)],
            Box::new(|_| {}),
        );
        p.track_colour_from_calibration_region();
        let mut d = scene(12, 12);
        p.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
        assert_eq!(Frame::new(W, H, &mut d).unwrap().rgb(100, 20), WHITE);
        let mut d = scene(115, 25);
        p.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
        assert_eq!(Frame::new(W, H, &mut d).unwrap().rgb(100, 20), GREEN);
        // An opaque icon replaces the outline.
        let icon = Picture::new(1, 1, vec![0, 0, 0, 255]).unwrap();
        p.add_window(Window {
            image: Some(Arc::new(icon)),
            ..window("a", 100, 10)
        });
        let mut d = scene(12, 12);
        p.process(&mut Frame::new(W, H, &mut d).unwrap(), None);
        assert_eq!(Frame::new(W, H, &mut d).unwrap().rgb(110, 20), [0, 0, 0]);
    }
}
