//! The app's two icons, drawn in code: a thermometer.
//!
//! - `color.png`, 192×192, opaque: a white thermometer with red mercury on
//!   the brand colour ([`super::ACCENT`]).
//! - `outline.png`, 32×32: the thermometer's outline in white on a fully
//!   transparent background. Teams allows only white and transparent
//!   pixels there, so every pixel is white and only its alpha varies (edges
//!   are anti-aliased through partial alpha, never through grey).
//!
//! Shapes are signed distance functions in a unit square (y down), sampled
//! several times per pixel for smooth edges.
//!
//! PNG encoding uses the `png` crate (image-rs): maintained, pure Rust,
//! declares Rust 1.73 and builds with 1.85, and shares flate2/miniz_oxide
//! with `zip`. A hand-written encoder (zlib stored blocks, CRC-32, Adler-32)
//! would be more code of our own to get right, and the tests need a decoder
//! anyway.

/// The colour icon's file name in the package.
pub const COLOR_FILE: &str = "color.png";
/// The outline icon's file name in the package.
pub const OUTLINE_FILE: &str = "outline.png";
/// The colour icon's size (documented: 192×192).
pub const COLOR_SIZE: u32 = 192;
/// The outline icon's size (documented: 32×32).
pub const OUTLINE_SIZE: u32 = 32;

const WHITE: [u8; 3] = [0xFF, 0xFF, 0xFF];
/// The mercury in the colour icon.
const MERCURY: [u8; 3] = [0x99, 0x1B, 0x1B];

/// A point in the unit square.
#[derive(Clone, Copy)]
struct P {
    x: f32,
    y: f32,
}

fn dist(a: P, b: P) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Distance from `p` to the segment `a`–`b`.
fn seg_dist(p: P, a: P, b: P) -> f32 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0)
    };
    dist(
        p,
        P {
            x: a.x + t * dx,
            y: a.y + t * dy,
        },
    )
}

/// The thermometer: a capsule-shaped stem on a round bulb, mercury inside,
/// and three scale ticks to its right.
struct Glyph {
    /// Radius of the mercury column.
    column_r: f32,
    /// Radius of the mercury in the bulb.
    dot_r: f32,
}

// The geometry is laid out on the outline icon's 32 px grid (a value of
// n/32 is n pixels there), so its 2 px strokes fall on whole pixels; the
// colour icon scales the same shapes up.
const X: f32 = 13.0 / 32.0;
const STEM_TOP: P = P {
    x: X,
    y: 6.0 / 32.0,
};
const STEM_BOTTOM: P = P {
    x: X,
    y: 20.0 / 32.0,
};
const STEM_R: f32 = 4.0 / 32.0;
const BULB: P = P {
    x: X,
    y: 24.0 / 32.0,
};
const BULB_R: f32 = 6.0 / 32.0;
const COLUMN_TOP: P = P {
    x: X,
    y: 11.0 / 32.0,
};
/// Width of the outline icon's stroke.
const STROKE: f32 = 2.0 / 32.0;
const TICKS_Y: [f32; 3] = [7.0 / 32.0, 11.0 / 32.0, 15.0 / 32.0];
const TICK_X: (f32, f32) = (20.0 / 32.0, 24.0 / 32.0);
const TICK_R: f32 = 1.0 / 32.0;

impl Glyph {
    /// Negative inside the thermometer's body.
    fn body(&self, p: P) -> f32 {
        (seg_dist(p, STEM_TOP, STEM_BOTTOM) - STEM_R).min(dist(p, BULB) - BULB_R)
    }

    fn mercury(&self, p: P) -> bool {
        seg_dist(p, COLUMN_TOP, BULB) <= self.column_r || dist(p, BULB) <= self.dot_r
    }

    fn tick(&self, p: P) -> bool {
        TICKS_Y
            .iter()
            .any(|&y| seg_dist(p, P { x: TICK_X.0, y }, P { x: TICK_X.1, y }) <= TICK_R)
    }
}

/// Fraction of the samples of pixel (`px`, `py`) for which `inside` holds,
/// with the glyph's unit square drawn at `offset`, `scale` pixels wide.
fn coverage(px: u32, py: u32, n: u32, offset: f32, scale: f32, inside: impl Fn(P) -> bool) -> f32 {
    let mut hits = 0;
    for sy in 0..n {
        for sx in 0..n {
            let x = px as f32 + (sx as f32 + 0.5) / n as f32;
            let y = py as f32 + (sy as f32 + 0.5) / n as f32;
            let p = P {
                x: (x - offset) / scale,
                y: (y - offset) / scale,
            };
            if inside(p) {
                hits += 1;
            }
        }
    }
    hits as f32 / (n * n) as f32
}

fn blend(under: [u8; 3], over: [u8; 3], alpha: f32) -> [u8; 3] {
    let mix = |u: u8, o: u8| (u as f32 + (o as f32 - u as f32) * alpha).round() as u8;
    [
        mix(under[0], over[0]),
        mix(under[1], over[1]),
        mix(under[2], over[2]),
    ]
}

/// The colour icon's pixels: RGB, row by row, 192×192.
pub fn color_pixels() -> Vec<u8> {
    let g = Glyph {
        column_r: 0.055,
        dot_r: 0.12,
    };
    // The glyph in the middle 150 px, clear of the rounded corners Teams
    // draws around it.
    let (scale, offset) = (150.0, 21.0);
    let mut out = Vec::with_capacity((COLOR_SIZE * COLOR_SIZE * 3) as usize);
    for y in 0..COLOR_SIZE {
        for x in 0..COLOR_SIZE {
            let cov = |f: &dyn Fn(P) -> bool| coverage(x, y, 4, offset, scale, f);
            let mut c = super::ACCENT;
            c = blend(c, WHITE, cov(&|p| g.body(p) <= 0.0));
            c = blend(c, MERCURY, cov(&|p| g.mercury(p)));
            c = blend(c, WHITE, cov(&|p| g.tick(p)));
            out.extend_from_slice(&c);
        }
    }
    out
}

/// The outline icon's pixels: RGBA, row by row, 32×32; white, and
/// transparent where nothing is drawn.
pub fn outline_pixels() -> Vec<u8> {
    let g = Glyph {
        column_r: 1.0 / 32.0,
        dot_r: 2.5 / 32.0,
    };
    let scale = OUTLINE_SIZE as f32;
    let mut out = Vec::with_capacity((OUTLINE_SIZE * OUTLINE_SIZE * 4) as usize);
    for y in 0..OUTLINE_SIZE {
        for x in 0..OUTLINE_SIZE {
            let a = coverage(x, y, 8, 0.0, scale, |p| {
                let d = g.body(p);
                (-STROKE..=0.0).contains(&d) || g.mercury(p) || g.tick(p)
            });
            out.extend_from_slice(&[0xFF, 0xFF, 0xFF, (a * 255.0).round() as u8]);
        }
    }
    out
}

/// Encodes 8-bit pixels as a PNG.
fn encode(
    width: u32,
    height: u32,
    color: png::ColorType,
    pixels: &[u8],
) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(out)
}

/// `color.png`.
pub fn color_png() -> Result<Vec<u8>, png::EncodingError> {
    encode(COLOR_SIZE, COLOR_SIZE, png::ColorType::Rgb, &color_pixels())
}

/// `outline.png`.
pub fn outline_png() -> Result<Vec<u8>, png::EncodingError> {
    encode(
        OUTLINE_SIZE,
        OUTLINE_SIZE,
        png::ColorType::Rgba,
        &outline_pixels(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn outline_is_white_on_transparent() {
        let px = outline_pixels();
        assert_eq!(px.len(), 32 * 32 * 4);
        assert!(px.chunks(4).all(|p| p[..3] == [255, 255, 255]));
        let opaque = px.chunks(4).filter(|p| p[3] == 255).count();
        let clear = px.chunks(4).filter(|p| p[3] == 0).count();
        // A visible glyph, mostly background, a transparent border.
        assert!(opaque > 60 && clear > 600, "{opaque} opaque, {clear} clear");
        for i in 0..32 {
            for (x, y) in [(i, 0), (i, 31), (0, i), (31, i)] {
                assert_eq!(px[(y * 32 + x) * 4 + 3], 0, "({x}, {y})");
            }
        }
    }

    #[test]
    fn color_has_the_glyph_on_the_brand_colour() {
        let px = color_pixels();
        assert_eq!(px.len(), 192 * 192 * 3);
        let at = |x: usize, y: usize| &px[(y * 192 + x) * 3..][..3];
        assert_eq!(at(0, 0), crate::manifest::ACCENT);
        assert_eq!(at(191, 191), crate::manifest::ACCENT);
        let white = px.chunks(3).filter(|p| *p == WHITE).count();
        let red = px.chunks(3).filter(|p| *p == MERCURY).count();
        assert!(white > 2000 && red > 500, "{white} white, {red} mercury");
    }

    #[test]
    fn pngs_decode_to_their_sizes() {
        let (info, px) = decode(&color_png().unwrap());
        assert_eq!((info.width, info.height), (192, 192));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(px, color_pixels());
        let (info, px) = decode(&outline_png().unwrap());
        assert_eq!((info.width, info.height), (32, 32));
        assert_eq!(info.color_type, png::ColorType::Rgba);
        assert_eq!(px, outline_pixels());
    }
}
