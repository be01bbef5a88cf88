use serde::{Deserialize, Serialize};

/// A server's wall power at the eleven SPECpower_ssj2008 load levels (active idle, 10 %, …,
/// 100 %), linearly interpolated between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerCurve {
    /// Watts at 0 %, 10 %, …, 100 % load.
    pub points_w: [f64; 11],
}

impl PowerCurve {
    /// Watts at utilization `u` (clamped to `[0, 1]`).
    pub fn power_w(&self, u: f64) -> f64 {
        let x = u.clamp(0.0, 1.0) * 10.0;
        let i = (x.floor() as usize).min(9);
        let f = x - i as f64;
        self.points_w[i] * (1.0 - f) + self.points_w[i + 1] * f
    }

    /// Active-idle watts.
    pub fn idle_w(&self) -> f64 {
        self.points_w[0]
    }
}

/// A server model the simulator can rack: its published power curve and its capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostArchetype {
    /// Short name.
    pub name: &'static str,
    /// The system the curve was measured on.
    pub system: &'static str,
    /// Logical CPUs (hardware threads) the scheduler can allocate.
    pub threads: u32,
    /// Memory in GiB.
    pub memory_gib: u64,
    /// Published curve.
    pub curve: PowerCurve,
}

/// Archetypes with curves from published SPECpower_ssj2008 results (average wall power per
/// target load; see docs/datasets.md for the citations).
pub fn archetypes() -> [HostArchetype; 3] {
    [
        HostArchetype {
            name: "x3400-m3",
            system: "IBM System x3400 M3, 2x Xeon X5670 (SPECpower_ssj2008, Apr 2010)",
            threads: 24,
            memory_gib: 64,
            curve: PowerCurve {
                points_w: [
                    69.2, 119.0, 133.0, 140.0, 155.0, 170.0, 189.0, 209.0, 227.0, 241.0, 258.0,
                ],
            },
        },
        HostArchetype {
            name: "rh2288-v2",
            system: "Huawei RH2288 V2, 2x Xeon E5-2660 (SPECpower_ssj2008, Mar 2012)",
            threads: 32,
            memory_gib: 128,
            curve: PowerCurve {
                points_w: [
                    59.7, 87.2, 97.9, 109.0, 120.0, 133.0, 150.0, 171.0, 196.0, 231.0, 257.0,
                ],
            },
        },
        HostArchetype {
            name: "nf5280-m5",
            system: "Inspur NF5280M5, 2x Xeon Platinum 8176 (SPECpower_ssj2008, May 2018)",
            threads: 112,
            memory_gib: 384,
            curve: PowerCurve {
                points_w: [
                    49.4, 113.0, 133.0, 160.0, 176.0, 198.0, 228.0, 265.0, 305.0, 374.0, 454.0,
                ],
            },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_and_clamps() {
        let c = &archetypes()[0].curve;
        assert_eq!(c.power_w(0.0), 69.2);
        assert_eq!(c.power_w(1.0), 258.0);
        assert_eq!(c.power_w(2.0), 258.0);
        assert_eq!(c.power_w(-1.0), 69.2);
        assert!((c.power_w(0.55) - 179.5).abs() < 1e-9);
        for a in archetypes() {
            assert!(
                a.curve.points_w.windows(2).all(|w| w[0] < w[1]),
                "{} is monotone",
                a.name
            );
        }
    }
}
