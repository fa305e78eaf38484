//! Zone geometry in normalized image coordinates (0..1, origin top-left), the units of
//! detection boxes, so zones and detections line up at any resolution.

/// A point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal, 0 (left) to 1 (right).
    pub x: f64,
    /// Vertical, 0 (top) to 1 (bottom).
    pub y: f64,
}

impl Point {
    /// A point.
    pub const fn new(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    /// Euclidean distance.
    pub fn distance(self, other: Point) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }
}

/// A detection box `[x, y, w, h]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// Where an object touches the ground: the bottom-centre of its box (feet, tyres), not the
/// centroid. `None` for a box with a non-finite value.
pub fn ground_point(b: BBox) -> Option<Point> {
    [b.x, b.y, b.w, b.h]
        .iter()
        .all(|v| v.is_finite())
        .then(|| Point::new(b.x + b.w / 2.0, b.y + b.h))
}

/// Even-odd ray casting; a polygon of fewer than 3 points contains nothing.
pub fn contains(polygon: &[Point], p: Point) -> bool {
    if polygon.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Which way a path crossed a line A→B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// From the left of A→B (looking from A to B, with y down) to the right.
    AToB,
    /// The other way.
    BToA,
}

fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// Whether the move `p → q` properly crosses the segment `a → b` (touching an endpoint or
/// moving along the line does not count), and which way: `AToB` when `p` was on the side where
/// (B−A)×(P−A) > 0.
pub fn crossing(a: Point, b: Point, p: Point, q: Point) -> Option<Crossing> {
    let (d1, d2) = (cross(a, b, p), cross(a, b, q));
    let (d3, d4) = (cross(p, q, a), cross(p, q, b));
    let proper = d1 * d2 < 0.0 && d3 * d4 < 0.0;
    proper.then_some(if d1 > 0.0 {
        Crossing::AToB
    } else {
        Crossing::BToA
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<Point> {
        vec![
            Point::new(0.0, 0.0),
            Point::new(1.0, 0.0),
            Point::new(1.0, 1.0),
            Point::new(0.0, 1.0),
        ]
    }

    #[test]
    fn z8_point_in_polygon_and_the_ground_point() {
        assert!(contains(&square(), Point::new(0.5, 0.5)));
        assert!(!contains(&square(), Point::new(1.5, 0.5)));
        assert!(!contains(&square(), Point::new(0.5, 1.5)));
        assert!(!contains(&square()[..2], Point::new(0.5, 0.0)));
        let g = ground_point(BBox {
            x: 0.2,
            y: 0.1,
            w: 0.4,
            h: 0.6,
        })
        .unwrap();
        assert!((g.x - 0.4).abs() < 1e-12 && (g.y - 0.7).abs() < 1e-12);
        assert_eq!(
            ground_point(BBox {
                x: f64::NAN,
                y: 0.1,
                w: 0.4,
                h: 0.6
            }),
            None
        );
    }

    #[test]
    fn z7_line_crossings_and_their_direction() {
        let (a, b) = (Point::new(0.5, 0.0), Point::new(0.5, 1.0));
        let (left, right) = (Point::new(0.3, 0.5), Point::new(0.7, 0.5));
        assert_eq!(crossing(a, b, left, right), Some(Crossing::AToB));
        assert_eq!(crossing(a, b, right, left), Some(Crossing::BToA));
        // Stopping short, staying on one side, crossing the extension beyond B, moving along it.
        assert_eq!(crossing(a, b, left, Point::new(0.49, 0.5)), None);
        assert_eq!(crossing(a, b, left, Point::new(0.2, 0.9)), None);
        assert_eq!(
            crossing(a, b, Point::new(0.3, 1.2), Point::new(0.7, 1.2)),
            None
        );
        assert_eq!(
            crossing(a, b, Point::new(0.5, 0.2), Point::new(0.5, 0.4)),
            None
        );
        // Touching the line is not crossing it.
        assert_eq!(crossing(a, b, left, Point::new(0.5, 0.5)), None);
    }
}
