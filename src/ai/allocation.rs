//! The sampler's frame budget: how many frames a second, at what width, each (camera, profile)
//! sampler may decode when the AI tasks ask for more than the machine should spend.
//!
//! Cost is measured in full-width frames: a frame at a fraction `r` of the requested width costs
//! `r²` (decoding and scaling work follow the pixel count), so half width is a quarter of the
//! cost. Samplers are served in priority order. Each first gets what it asks for at full width,
//! less a reserve of [`MIN_FPS`] at full width for every sampler behind it; a sampler that
//! cannot get [`MIN_FPS`] that way climbs down a ladder of widths (100 %, 75 %, 50 %, never
//! below [`MIN_WIDTH`]) at [`MIN_FPS`], reserving only the ladder's cheapest rung for those
//! behind. One that cannot afford the cheapest rung, or that falls outside the decoder cap or
//! the number of cheapest rungs the budget can pay for, is shed (0 fps).

/// Slowest useful sampling rate.
pub const MIN_FPS: f64 = 0.5;
/// Narrowest frame the ladder goes down to (unless the task asked for less).
pub const MIN_WIDTH: i32 = 320;
/// The ladder's width fractions, best first.
pub const LADDER: [f64; 3] = [1.0, 0.75, 0.5];

/// What a sampler asks for (the most demanding of its tasks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Want {
    /// Frames a second.
    pub fps: f64,
    /// Frame width in pixels.
    pub width: i32,
}

/// What a sampler is granted; `fps == 0` means shed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    /// Frames a second (0 when shed).
    pub fps: f64,
    /// Frame width in pixels (0 when shed).
    pub width: i32,
}

impl Grant {
    const SHED: Grant = Grant { fps: 0.0, width: 0 };
}

/// Cost, in full-width frames a second, of `fps` at `width` for a sampler that wants `want`.
pub fn cost(want: Want, fps: f64, width: i32) -> f64 {
    if want.width <= 0 {
        return 0.0;
    }
    let r = f64::from(width) / f64::from(want.width);
    fps * r * r
}

fn rung_width(want: Want, fraction: f64) -> i32 {
    let scaled = (f64::from(want.width) * fraction).round() as i32;
    // Even widths keep the scaler and JPEG encoder happy.
    let scaled = scaled - scaled % 2;
    scaled.max(MIN_WIDTH.min(want.width))
}

/// The cheapest rung of a sampler's ladder.
fn floor_cost(want: Want) -> f64 {
    let width = rung_width(want, LADDER[LADDER.len() - 1]);
    cost(want, MIN_FPS, width)
}

/// Grants for `wants` (in priority order, best first) under `budget` full-width frames a
/// second and at most `max_decoders` running samplers.
pub fn allocate(wants: &[Want], budget: f64, max_decoders: usize) -> Vec<Grant> {
    let mut grants = vec![Grant::SHED; wants.len()];
    // How many samplers can run at all: the decoder cap, and how many cheapest rungs the
    // budget pays for.
    let mut admitted = 0;
    let mut floor_total = 0.0;
    for want in wants.iter().take(max_decoders) {
        let f = floor_cost(*want);
        if floor_total + f > budget + 1e-9 {
            break;
        }
        floor_total += f;
        admitted += 1;
    }
    let mut remaining = budget;
    for i in 0..admitted {
        let want = wants[i];
        let behind = &wants[i + 1..admitted];
        let reserve_full: f64 = behind.iter().map(|w| cost(*w, MIN_FPS, w.width)).sum();
        let reserve_floor: f64 = behind.iter().map(|w| floor_cost(*w)).sum();
        let wanted = want.fps.max(MIN_FPS);
        let headroom = remaining - reserve_full;
        let grant = if headroom + 1e-9 >= MIN_FPS {
            Grant {
                fps: wanted.min(headroom),
                width: want.width,
            }
        } else {
            let available = remaining - reserve_floor;
            LADDER
                .iter()
                .map(|f| rung_width(want, *f))
                .find(|w| cost(want, MIN_FPS, *w) <= available + 1e-9)
                .map_or(Grant::SHED, |width| Grant {
                    fps: MIN_FPS,
                    width,
                })
        };
        remaining -= cost(want, grant.fps, grant.width);
        grants[i] = grant;
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(wants: &[Want], grants: &[Grant]) -> f64 {
        wants
            .iter()
            .zip(grants)
            .map(|(w, g)| cost(*w, g.fps, g.width))
            .sum()
    }

    const W: Want = Want {
        fps: 2.0,
        width: 640,
    };

    #[test]
    fn the_leader_gets_the_most_and_everyone_keeps_the_floor_at_full_width() {
        let wants = [
            Want {
                fps: 10.0,
                width: 640,
            },
            Want {
                fps: 5.0,
                width: 640,
            },
            Want {
                fps: 5.0,
                width: 640,
            },
        ];
        let g = allocate(&wants, 10.0, 64);
        assert!(g[0].fps > g[1].fps && g[0].fps >= g[2].fps, "{g:?}");
        assert!(
            g.iter().all(|g| g.fps >= MIN_FPS && g.width == 640),
            "{g:?}"
        );
        assert!(total(&wants, &g) <= 10.0 + 1e-9);
    }

    #[test]
    fn a_tight_budget_downgrades_width_before_it_sheds_anyone() {
        let wants = [W; 4];
        let g = allocate(&wants, 1.4, 64);
        assert!(g.iter().all(|g| g.fps > 0.0), "none shed: {g:?}");
        assert!(
            g.iter().any(|g| g.width < 640),
            "one at least downgraded: {g:?}"
        );
        assert!(total(&wants, &g) <= 1.4 + 1e-9);
        assert!(g.iter().all(|g| g.width >= MIN_WIDTH));
    }

    #[test]
    fn a_budget_below_the_floor_of_all_keeps_the_leaders_and_sheds_the_rest() {
        let g = allocate(&[W; 4], 0.3, 64);
        assert!(g[0].fps > 0.0 && g[1].fps > 0.0, "{g:?}");
        assert_eq!(g[2], Grant::SHED);
        assert_eq!(g[3], Grant::SHED);
    }

    #[test]
    fn the_decoder_cap_sheds_the_lowest_priorities() {
        let g = allocate(&[W; 4], 40.0, 2);
        assert_eq!(g[0].fps, 2.0);
        assert_eq!(g[1].fps, 2.0);
        assert_eq!(g[2], Grant::SHED);
        assert_eq!(g[3], Grant::SHED);
    }

    #[test]
    fn half_width_costs_a_quarter() {
        assert!((cost(W, 2.0, 320) - cost(W, 2.0, 640) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn a_roomy_budget_grants_every_request_in_full() {
        let wants = [
            W,
            Want {
                fps: 30.0,
                width: 1280,
            },
        ];
        assert_eq!(
            allocate(&wants, 40.0, 64),
            vec![
                Grant {
                    fps: 2.0,
                    width: 640
                },
                Grant {
                    fps: 30.0,
                    width: 1280
                }
            ]
        );
    }
}
