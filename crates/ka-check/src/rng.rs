//! The deterministic random source for warmup delays.
//!
//! keepalived delays each checker's first run by `warmup * random() / RAND_MAX`. Here the
//! randomness comes from a caller-supplied seed (SplitMix64), so a run replays bit for bit.

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to spread checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`, like keepalived's `max * random() / RAND_MAX`.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        let r = u128::from(self.next_u64() >> 33); // 31 bits, like random()
        let v = u128::from(max) * r / u128::from(u32::MAX >> 1);
        u64::try_from(v).unwrap_or(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_deterministic() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            let x = a.up_to(60_000_000);
            assert!(x <= 60_000_000);
            assert_eq!(x, b.up_to(60_000_000));
        }
        assert_eq!(SplitMix64::new(1).up_to(0), 0);
    }
}
