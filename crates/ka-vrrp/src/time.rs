//! Simulated-time friendly instants and keepalived's timer arithmetic.

use ka_model::{Centisecs, VrrpVersion};

/// A point in time in microseconds since the caller's epoch (shared with ka-check).
pub use ka_model::Instant;

/// Microseconds per centisecond (keepalived's `TIMER_CENTI_HZ`).
pub const MICROS_PER_CS: u64 = 10_000;

/// Skew_Time in microseconds, with keepalived 2.2.7's exact integer arithmetic
/// (`VRRP_TIMER_SKEW` in vrrp.h).
///
/// * VRRPv3 (RFC 5798 section 6.1): `((256 - Priority) * Master_Adver_Interval) / 256`,
///   computed by keepalived as `(256 - prio) * adver_cs * 625 / 16` microseconds
///   (625/16 = 10 000/256), truncated to a whole microsecond.
/// * VRRPv2 (RFC 3768 section 6.1): `(256 - Priority) / 256` seconds, i.e.
///   `(256 - prio) * 1 000 000 / 256` microseconds, independent of the interval.
///
/// Examples at priority 100: v3 at 1 s = 609 375 us, at 0.1 s = 60 937 us, at 0.01 s = 6 093 us.
pub fn skew_time_us(version: VrrpVersion, priority: u8, master_adver_int: Centisecs) -> u64 {
    let p = 256 - u64::from(priority);
    match version {
        VrrpVersion::V3 => p * u64::from(master_adver_int.0) * 625 / 16,
        VrrpVersion::V2 => p * 1_000_000 / 256,
    }
}

/// Master_Down_Interval in microseconds: `down_timer_adverts * Master_Adver_Interval +
/// Skew_Time` (RFC 5798 section 6.1 with keepalived's `down_timer_adverts`, default 3;
/// keepalived's `VRRP_MS_DOWN_TIMER`).
///
/// At priority 100 and an interval of 1 s: 3 609 375 us (3609.375 ms); 0.1 s (v3):
/// 360 937 us; 0.01 s (v3): 36 093 us.
pub fn master_down_interval_us(
    version: VrrpVersion,
    priority: u8,
    master_adver_int: Centisecs,
    down_timer_adverts: u32,
) -> u64 {
    u64::from(down_timer_adverts) * u64::from(master_adver_int.0) * MICROS_PER_CS
        + skew_time_us(version, priority, master_adver_int)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // RFC 5798 section 6.1 / keepalived VRRP_TIMER_SKEW.
    #[test]
    fn skew_and_down_interval_values() {
        let v3 = VrrpVersion::V3;
        assert_eq!(skew_time_us(v3, 100, Centisecs(100)), 609_375);
        assert_eq!(skew_time_us(v3, 100, Centisecs(10)), 60_937);
        assert_eq!(skew_time_us(v3, 100, Centisecs(1)), 6_093);
        assert_eq!(skew_time_us(VrrpVersion::V2, 100, Centisecs(100)), 609_375);
        assert_eq!(skew_time_us(VrrpVersion::V2, 100, Centisecs(300)), 609_375);
        assert_eq!(
            master_down_interval_us(v3, 100, Centisecs(100), 3),
            3_609_375
        );
        assert_eq!(master_down_interval_us(v3, 100, Centisecs(10), 3), 360_937);
        assert_eq!(master_down_interval_us(v3, 100, Centisecs(1), 3), 36_093);
        assert_eq!(
            master_down_interval_us(v3, 255, Centisecs(100), 3),
            3_003_906
        );
        assert_eq!(
            master_down_interval_us(v3, 150, Centisecs(100), 3),
            3_414_062
        );
    }

    #[test]
    fn instant_saturates() {
        let t = Instant::from_micros(u64::MAX - 1);
        assert_eq!(t + Duration::from_secs(10), Instant::from_micros(u64::MAX));
        assert_eq!(
            Instant::ZERO.saturating_duration_since(t),
            Duration::from_micros(0)
        );
    }
}
