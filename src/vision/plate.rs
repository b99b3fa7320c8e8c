//! PlateDetectorFilter: licence plates found in the video are read and PlateDetected raised
//! with KMS's Spanish formatting (a modern "1234 BCD" is "--1234BCD", an old "M 1234 AB"
//! "-M1234AB-"), once a reading is stable and never twice in a row for the same plate. The
//! video is left as it is (KMS draws only in a debug mode its API cannot turn on).
//!
//! Ours: a plate is a bright, plate-shaped region (3-7 times as wide as high) about
//! `plateWidthPercentage` of the frame wide (0.4-2.5 times it), read by the Tesseract program
//! (Debian's tesseract-ocr, one line, letters and digits) on a worker thread, so the video never
//! waits for it; KMS links Tesseract with its own trained data and reads character by character.

use super::{luma, EventSink, Frame, FrameProcessor, Gray, Mask, VisionEvent};
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::Duration;

pub const DEFAULT_WIDTH_PERCENTAGE: f32 = 0.25;
/// Frames between two searches (a plate stays in view for many).
const EVERY: u64 = 3;
/// At most this often a crop goes to the OCR: a read costs about a quarter of a second of a
/// core, and a plate stays in view for seconds.
const OCR_INTERVAL: Duration = Duration::from_millis(500);
/// Equal readings in a row before a plate is reported (KMS: more than 3 stable samples).
const STABLE_READS: usize = 3;
const STEP: usize = 2;

pub struct PlateDetector {
    width_percentage: f32,
    frames: u64,
    last_ocr: Option<std::time::Instant>,
    ocr_interval: Duration,
    /// To the OCR worker; holds one crop (a crop is dropped while the worker is busy).
    ocr: SyncSender<Gray>,
}

/// Reads a crop's text, None when there is none.
pub type Reader = Box<dyn Fn(&Gray) -> Option<String> + Send>;

impl PlateDetector {
    pub fn new(events: EventSink, read: Reader) -> PlateDetector {
        let (tx, rx) = sync_channel::<Gray>(1);
        let spawned = std::thread::Builder::new()
            .name("plate-ocr".into())
            .spawn(move || ocr_worker(rx, read, events));
        if let Err(e) = spawned {
            tracing::warn!("plate OCR worker: {e}");
        }
        PlateDetector {
            width_percentage: DEFAULT_WIDTH_PERCENTAGE,
            frames: 0,
            last_ocr: None,
            ocr_interval: OCR_INTERVAL,
            ocr: tx,
        }
    }

    /// setPlateWidthPercentage: Err outside KMS's 0..1.
    pub fn set_width_percentage(&mut self, p: f32) -> Result<(), String> {
        if !(p > 0.0 && p <= 1.0) {
            return Err("plateWidthPercentage must be within 0 and 1".into());
        }
        self.width_percentage = p;
        Ok(())
    }
}

/// The best plate-shaped bright region, in frame pixels (x, y, w, h).
pub fn find_plate(
    frame: &Frame<'_>,
    width_percentage: f32,
) -> Option<(usize, usize, usize, usize)> {
    let gray = frame.gray(STEP);
    let (w, h) = (gray.width, gray.height);
    let mut bright = Mask::new(w, h);
    for (i, p) in gray.px.iter().enumerate() {
        bright.px[i] = *p > 150;
    }
    // Joins the plate's background across its letters' strokes.
    let bright = bright.close(1);
    let expected = width_percentage * frame.width as f32;
    bright
        .blobs()
        .into_iter()
        .filter(|b| {
            let (bw, bh) = (b.bbox.width as f32, b.bbox.height as f32);
            let ratio = bw / bh.max(1.0);
            let full_w = bw * STEP as f32;
            (3.0..=7.0).contains(&ratio)
                && bh >= 6.0
                && (0.4 * expected..=2.5 * expected).contains(&full_w)
                && b.area as f32 / (bw * bh) > 0.45
        })
        .min_by(|a, b| {
            let d = |x: &super::Blob| (x.bbox.width as f32 * STEP as f32 - expected).abs();
            d(a).total_cmp(&d(b))
        })
        .map(|b| {
            let s = STEP as i32;
            (
                (b.bbox.x * s) as usize,
                (b.bbox.y * s) as usize,
                ((b.bbox.width * s) as usize).min(frame.width - (b.bbox.x * s) as usize),
                ((b.bbox.height * s) as usize).min(frame.height - (b.bbox.y * s) as usize),
            )
        })
}

/// The plate's grey pixels, black text on white with a white margin, scaled so that the plate
/// is about 60 px high (what Tesseract reads best).
fn crop(frame: &Frame<'_>, (x, y, w, h): (usize, usize, usize, usize)) -> Gray {
    let scale = (60.0 / h.max(1) as f32).clamp(0.5, 4.0);
    let (cw, ch) = (((w as f32) * scale) as usize, ((h as f32) * scale) as usize);
    let margin = 12;
    let (ow, oh) = (cw + 2 * margin, ch + 2 * margin);
    let mut px = vec![255u8; ow * oh];
    let mut values = Vec::with_capacity(cw * ch);
    for yy in 0..ch {
        let sy = (y + (yy as f32 / scale) as usize).min(frame.height - 1);
        for xx in 0..cw {
            let sx = (x + (xx as f32 / scale) as usize).min(frame.width - 1);
            values.push(luma(frame.rgb(sx, sy)));
        }
    }
    let threshold = otsu(&values);
    for yy in 0..ch {
        for xx in 0..cw {
            let v = values[yy * cw + xx];
            px[(yy + margin) * ow + xx + margin] = if v > threshold { 255 } else { 0 };
        }
    }
    Gray {
        width: ow,
        height: oh,
        px,
    }
}

/// Otsu's threshold of grey values.
fn otsu(values: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for v in values {
        hist[*v as usize] += 1;
    }
    let total = values.len() as f64;
    let sum: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, n)| i as f64 * *n as f64)
        .sum();
    let (mut wb, mut sb, mut best, mut at) = (0.0, 0.0, -1.0, 127u8);
    for (t, n) in hist.iter().enumerate() {
        wb += *n as f64;
        if wb == 0.0 {
            continue;
        }
        let wf = total - wb;
        if wf == 0.0 {
            break;
        }
        sb += t as f64 * *n as f64;
        let (mb, mf) = (sb / wb, (sum - sb) / wf);
        let between = wb * wf * (mb - mf).powi(2);
        if between > best {
            best = between;
            at = t as u8;
        }
    }
    at
}

/// KMS's nine-character form of a Spanish plate read as letters and digits, or None when it is
/// not one: modern NNNN LLL → "--NNNNLLL"; provincial L(L) NNNN L(L) → "LLNNNNLL-" padded with
/// '-' where a letter is missing.
pub fn spanish_plate(text: &str) -> Option<String> {
    let t: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let digits_at = t.find(|c: char| c.is_ascii_digit())?;
    let (pre, rest) = t.split_at(digits_at);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let post = &rest[digits.len()..];
    let letters = |s: &str| s.chars().all(|c| c.is_ascii_uppercase());
    if digits.len() != 4 || !letters(pre) || !letters(post) || pre.len() > 2 {
        return None;
    }
    match post.len() {
        3 if pre.is_empty() => Some(format!("--{digits}{post}")),
        1 | 2 if !pre.is_empty() => Some(format!("{pre:->2}{digits}{post:-<3}")),
        _ => None,
    }
}

/// Reported once a reading repeats STABLE_READS times in a row, and not again until another
/// plate has been reported.
#[derive(Default)]
struct Stabilizer {
    last: Option<String>,
    repeats: usize,
    sent: Option<String>,
}

impl Stabilizer {
    fn feed(&mut self, plate: String) -> Option<String> {
        if self.last.as_ref() == Some(&plate) {
            self.repeats += 1;
        } else {
            self.last = Some(plate.clone());
            self.repeats = 1;
        }
        (self.repeats >= STABLE_READS && self.sent.as_ref() != Some(&plate)).then(|| {
            self.sent = Some(plate.clone());
            plate
        })
    }
}

fn ocr_worker(rx: Receiver<Gray>, read: Reader, events: EventSink) {
    let mut stable = Stabilizer::default();
    for crop in rx {
        let Some(text) = read(&crop) else {
            continue;
        };
        let Some(plate) = spanish_plate(&text) else {
            tracing::trace!(text, "not a plate");
            continue;
        };
        if let Some(p) = stable.feed(plate) {
            events(VisionEvent::Plate(p));
        }
    }
}

/// Reads a crop with the `tesseract` program (one line of capital letters and digits).
pub fn tesseract(crop: &Gray) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("kms-plate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join(format!("{:?}.pgm", std::thread::current().id()).replace(['(', ')'], ""));
    {
        let mut f = std::fs::File::create(&file).ok()?;
        write!(f, "P5\n{} {}\n255\n", crop.width, crop.height).ok()?;
        f.write_all(&crop.px).ok()?;
    }
    let out = std::process::Command::new("tesseract")
        .arg(&file)
        .arg("stdout")
        .args([
            "--psm",
            "7",
            "-c",
            "tessedit_char_whitelist=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ])
        .stderr(std::process::Stdio::null())
        .output();
    let _ = std::fs::remove_file(&file);
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("cannot run tesseract (is tesseract-ocr installed?): {e}");
            None
        }
    }
}

impl FrameProcessor for PlateDetector {
    fn process(&mut self, frame: &mut Frame<'_>, _pts: Option<Duration>) {
        self.frames += 1;
        let due = self
            .last_ocr
            .is_none_or(|t| t.elapsed() >= self.ocr_interval);
        if !self.frames.is_multiple_of(EVERY) || !due {
            return;
        }
        let Some(plate) = find_plate(frame, self.width_percentage) else {
            return;
        };
        // A busy worker drops the crop: the next one is as good.
        if let Ok(()) | Err(TrySendError::Full(_)) = self.ocr.try_send(crop(frame, plate)) {
            self.last_ocr = Some(std::time::Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn spanish_formats() {
        let table = [
            ("1234 BCD", Some("--1234BCD")),
            ("1234BCD\n", Some("--1234BCD")),
            ("M 1234 AB", Some("-M1234AB-")),
            ("GR 1234 B", Some("GR1234B--")),
            ("1234 AB", None),
            ("123 BCD", None),
            ("12345BCD", None),
            ("AB1234", None),
            ("", None),
            ("1234 BCD 99", None),
            ("XYZ 1234 AB", None),
        ];
        for (text, want) in table {
            assert_eq!(spanish_plate(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn a_plate_is_reported_once_when_stable() {
        let mut s = Stabilizer::default();
        let p = |t: &str| t.to_string();
        let got: Vec<_> = [
            "A", "A", "B", "B", "B", "B", "B", "A", "A", "A", "B", "B", "B",
        ]
        .iter()
        .map(|t| s.feed(p(t)))
        .collect();
        let want = [
            None,
            None,
            None,
            None,
            Some(p("B")),
            None,
            None,
            None,
            None,
            Some(p("A")),
            None,
            None,
            Some(p("B")),
        ];
        assert_eq!(got, want);
    }

    /// 320×240 dark grey with a white 80×20 plate at (100, 150).
    fn scene() -> Vec<u8> {
        let mut d = vec![255u8; 320 * 240 * 4];
        let mut f = Frame::new(320, 240, &mut d).unwrap();
        for y in 0..240 {
            for x in 0..320 {
                let plate = (100..180).contains(&x) && (150..170).contains(&y);
                // Letter-like dark strokes inside the plate.
                let stroke = plate && (x - 100) % 10 < 2 && (154..166).contains(&y);
                let c = if stroke {
                    10
                } else if plate {
                    240
                } else {
                    60
                };
                f.set_rgb(x, y, [c, c, c]);
            }
        }
        d
    }

    #[test]
    fn finds_the_plate_near_the_expected_width() {
        let mut d = scene();
        let f = Frame::new(320, 240, &mut d).unwrap();
        assert_eq!(find_plate(&f, 0.25), Some((100, 150, 80, 20)));
        // Far from the expected width: not a plate.
        assert_eq!(find_plate(&f, 0.9), None);
        let g = crop(&f, (100, 150, 80, 20));
        assert_eq!(g.height, 60 + 24);
        assert!(g.px.contains(&0) && g.px.contains(&255));
    }

    #[test]
    fn readings_become_one_event() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut p = PlateDetector::new(
            Box::new(move |e| s.lock().unwrap().push(e)),
            Box::new(|_| Some("1234 BCD".into())),
        );
        p.ocr_interval = Duration::ZERO;
        assert!(p.set_width_percentage(1.5).is_err());
        p.set_width_percentage(0.25).unwrap();
        for _ in 0..60 {
            let mut d = scene();
            p.process(&mut Frame::new(320, 240, &mut d).unwrap(), None);
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            *seen.lock().unwrap(),
            [VisionEvent::Plate("--1234BCD".into())]
        );
    }
}
