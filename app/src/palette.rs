//! The heatmap's colours, shared by the page and the server-drawn PNG/SVG.
//! ColorBrewer RdBu (colour-blind safe): red = low coverage, blue = full.

pub const RAMP: [(u8, u8, u8); 7] = [
    (0xb2, 0x18, 0x2b),
    (0xd6, 0x60, 0x4d),
    (0xf4, 0xa5, 0x82),
    (0xfd, 0xdb, 0xc7),
    (0xd1, 0xe5, 0xf0),
    (0x92, 0xc5, 0xde),
    (0x21, 0x66, 0xac),
];

/// Proportional: only full coverage gets the darkest blue, and one failure in
/// a big cell barely moves it.
pub fn coverage_rgb(coverage: f64) -> (u8, u8, u8) {
    if coverage >= 0.9999 {
        return RAMP[6];
    }
    let i = (coverage.clamp(0.0, 1.0) * 6.0).floor() as usize;
    RAMP[i.min(5)]
}

pub fn coverage_colour(coverage: f64) -> String {
    let (r, g, b) = coverage_rgb(coverage);
    format!("#{r:02x}{g:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_is_proportional() {
        assert_eq!(coverage_colour(1.0), "#2166ac");
        assert_eq!(coverage_colour(0.0), "#b2182b");
        assert_eq!(coverage_colour(0.99), "#92c5de");
        assert_ne!(coverage_rgb(0.5), coverage_rgb(0.2));
    }
}
