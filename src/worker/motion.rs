//! The reference worker's detector: background subtraction against the per-pixel median of the
//! last frames (so neither a moving object nor where it started leaves a ghost), the largest
//! moving blob as one object, and a track id kept while the blob stays near where it was.
//! No model and no download: it finds things that move against a still background (the demo
//! camera's sliding box, a person crossing a static scene).

/// Width the frames are reduced to before analysis.
const WORK_WIDTH: usize = 160;
/// Grey-level difference from the background that counts as foreground.
const THRESHOLD: f32 = 25.0;
/// Frames the background median is taken over.
const HISTORY: usize = 15;
/// Frames before the median means anything (no detections until then).
const WARM_UP: usize = HISTORY / 2 + 1;
/// Smallest blob reported, as a fraction of the image.
const MIN_AREA: f64 = 0.0015;
/// How far (normalized) a blob may move between frames and keep its track.
const TRACK_RADIUS: f64 = 0.2;
/// Frames a track survives without being seen.
const TRACK_PATIENCE: u32 = 3;

/// One moving object in normalized coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// Left, 0..1.
    pub x: f64,
    /// Top, 0..1.
    pub y: f64,
    /// Width, 0..1.
    pub w: f64,
    /// Height, 0..1.
    pub h: f64,
    /// 0..1, from how strongly the blob differs from the background.
    pub confidence: f64,
    /// Kept across frames while the object stays near.
    pub track_id: String,
}

/// A grey image.
#[derive(Debug, Clone)]
pub struct Grey {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row-major luma.
    pub pixels: Vec<u8>,
}

/// Decodes a JPEG to luma.
pub fn decode(jpeg: &[u8]) -> Result<Grey, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let pixels = decoder.decode().map_err(|e| format!("not a JPEG: {e:?}"))?;
    let info = decoder.info().ok_or("a JPEG without a header")?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    if width == 0 || height == 0 || pixels.len() < width * height {
        return Err("an empty JPEG".into());
    }
    Ok(Grey {
        width,
        height,
        pixels,
    })
}

/// Box-averages `image` down to [`WORK_WIDTH`] columns (aspect kept).
fn shrink(image: &Grey) -> Grey {
    let step = image.width.div_ceil(WORK_WIDTH).max(1);
    let (width, height) = (image.width / step, image.height / step);
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0u32;
            for dy in 0..step {
                let row = (y * step + dy) * image.width;
                for dx in 0..step {
                    sum += u32::from(image.pixels[row + x * step + dx]);
                }
            }
            pixels.push((sum / (step * step) as u32) as u8);
        }
    }
    Grey {
        width,
        height,
        pixels,
    }
}

/// Background model and track state of one camera.
#[derive(Debug, Default)]
pub struct Detector {
    history: std::collections::VecDeque<Vec<u8>>,
    size: (usize, usize),
    track: Option<(String, f64, f64, u32)>,
    next_track: u64,
    run: Option<String>,
}

impl Detector {
    /// The moving object in `image`, if any.
    pub fn detect(&mut self, image: &Grey) -> Option<Found> {
        let small = shrink(image);
        if self.size != (small.width, small.height) {
            self.size = (small.width, small.height);
            self.history.clear();
        }
        let (w, h) = self.size;
        let ready = self.history.len() >= WARM_UP;
        let mut background = vec![0f32; small.pixels.len()];
        if ready {
            let mut column = Vec::with_capacity(HISTORY);
            for (i, b) in background.iter_mut().enumerate() {
                column.clear();
                column.extend(self.history.iter().map(|f| f[i]));
                let mid = column.len() / 2;
                *b = f32::from(*column.select_nth_unstable(mid).1);
            }
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(small.pixels.clone());
        if !ready {
            return None;
        }
        let mask: Vec<bool> = small
            .pixels
            .iter()
            .zip(&background)
            .map(|(p, b)| (f32::from(*p) - b).abs() > THRESHOLD)
            .collect();
        let Some(blob) = largest_blob(&mask, w, h) else {
            return self.forget();
        };
        if (blob.count as f64) < MIN_AREA * (w * h) as f64 {
            return self.forget();
        }
        let strength: f32 = blob
            .pixels
            .iter()
            .map(|i| (f32::from(small.pixels[*i]) - background[*i]).abs())
            .sum::<f32>()
            / blob.count as f32;
        let (x0, y0, x1, y1) = blob.bounds;
        let found_x = x0 as f64 / w as f64;
        let found_y = y0 as f64 / h as f64;
        let found_w = ((x1 - x0 + 1) as f64 / w as f64).min(1.0 - found_x);
        let found_h = ((y1 - y0 + 1) as f64 / h as f64).min(1.0 - found_y);
        let (cx, cy) = (found_x + found_w / 2.0, found_y + found_h / 2.0);
        let track_id = match &self.track {
            Some((id, tx, ty, _)) if (cx - tx).hypot(cy - ty) <= TRACK_RADIUS => id.clone(),
            _ => {
                self.next_track += 1;
                let n = self.next_track;
                format!("{}-{n}", self.run_id())
            }
        };
        self.track = Some((track_id.clone(), cx, cy, 0));
        Some(Found {
            x: found_x,
            y: found_y,
            w: found_w.max(1e-3),
            h: found_h.max(1e-3),
            confidence: f64::from(strength / 120.0).clamp(0.5, 0.99),
            track_id,
        })
    }

    /// A prefix of this detector's track ids, different for every detector (worker restarts
    /// and task hand-overs must not reuse track ids the server still follows).
    fn run_id(&mut self) -> &str {
        self.run
            .get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned())
    }

    fn forget(&mut self) -> Option<Found> {
        if let Some(track) = &mut self.track {
            track.3 += 1;
            if track.3 > TRACK_PATIENCE {
                self.track = None;
            }
        }
        None
    }
}

struct Blob {
    count: usize,
    bounds: (usize, usize, usize, usize),
    pixels: Vec<usize>,
}

/// The largest 4-connected region of `mask`.
fn largest_blob(mask: &[bool], w: usize, h: usize) -> Option<Blob> {
    let mut seen = vec![false; mask.len()];
    let mut best: Option<Blob> = None;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut blob = Blob {
            count: 0,
            bounds: (usize::MAX, usize::MAX, 0, 0),
            pixels: Vec::new(),
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            blob.count += 1;
            blob.pixels.push(i);
            blob.bounds = (
                blob.bounds.0.min(x),
                blob.bounds.1.min(y),
                blob.bounds.2.max(x),
                blob.bounds.3.max(y),
            );
            let mut visit = |j: usize| {
                if mask[j] && !seen[j] {
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
        if best.as_ref().is_none_or(|b| blob.count > b.count) {
            best = Some(blob);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 320×180 grey frame with a white 24×40 box at `x`.
    fn frame(x: usize) -> Grey {
        let (width, height) = (320, 180);
        let mut pixels = vec![64u8; width * height];
        for y in 70..110 {
            for dx in 0..24 {
                if x + dx < width {
                    pixels[y * width + x + dx] = 230;
                }
            }
        }
        Grey {
            width,
            height,
            pixels,
        }
    }

    #[test]
    fn a_box_sliding_across_a_still_scene_is_one_track_that_follows_it() {
        let mut detector = Detector::default();
        let mut found = Vec::new();
        for step in 0..40 {
            if let Some(f) = detector.detect(&frame(10 + step * 6)) {
                found.push(f);
            }
        }
        assert!(found.len() >= 25, "found in most frames: {}", found.len());
        assert!(
            found.iter().all(|f| f.track_id == found[0].track_id),
            "one track"
        );
        let last = found.last().unwrap();
        let expected_x = (10 + 39 * 6) as f64 / 320.0;
        assert!(
            (last.x - expected_x).abs() < 0.05,
            "follows the box: {} vs {expected_x}",
            last.x
        );
        assert!(
            (last.y - 70.0 / 180.0).abs() < 0.05 && (last.h - 40.0 / 180.0).abs() < 0.05,
            "{last:?}"
        );
        assert!(last.w < 0.15, "the box, not its trail: {last:?}");
    }

    #[test]
    fn a_still_scene_has_nothing_to_report() {
        let mut detector = Detector::default();
        let still = frame(100);
        assert!((0..20).all(|_| detector.detect(&still).is_none()));
    }

    #[test]
    fn a_jpeg_from_ffmpeg_decodes_to_luma() {
        // A tiny baseline JPEG is easiest to get from the encoder the sampler uses; without
        // ffmpeg, decoding garbage must fail cleanly instead.
        assert!(decode(b"not a jpeg").is_err());
    }
}
