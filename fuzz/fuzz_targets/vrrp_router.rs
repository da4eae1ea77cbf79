//! Arbitrary packet and event sequences fed to the sans-IO VRRP Router: it must never
//! panic, never leave a deadline in the past, and keep its output queues bounded.
//!
//! Input layout: byte 0 picks the configuration variant; then records of
//! `[op, dt_lo, dt_hi, ...]` where `op % 8` is start / shutdown / timeout / packet /
//! link / track; a packet record carries `[len, src, ttl, flags, len bytes...]`
//! decoded with ka-wire (anything that fails to decode is skipped, as the daemon does).
#![no_main]

use ka_model::{Centisecs, Vrid, VrrpVersion};
use ka_vrrp::{
    AhStatus, AuthConfig, IfaceId, InitialState, Input, InstanceConfig, Instant, Router,
    RouterConfig, RxMeta, SyncGroupConfig, TrackConfig, TrackId, TrackState, VipConfig,
};
use ka_wire::vrrp::{Family, VrrpPacket};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn v6(last: u8) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, u16::from(last)))
}

fn config(variant: u8) -> Option<RouterConfig> {
    let six = variant & 0x40 != 0;
    let addr = |n: u8| if six { v6(n) } else { v4(n) };
    let mk = |name: &str, vrid: u32, prio: u8, vip: u8| -> Option<InstanceConfig> {
        let mut c = InstanceConfig::new(name, Vrid::new(vrid).ok()?, IfaceId(1), addr(10));
        c.version = if variant & 1 == 0 || six { VrrpVersion::V3 } else { VrrpVersion::V2 };
        c.priority = prio;
        c.advert_int = Centisecs(match variant & 6 {
            0 => 100,
            2 => 10,
            4 => 1,
            _ => 300,
        });
        c.vips = vec![VipConfig::host(addr(vip))];
        c.tracks = vec![
            TrackConfig { id: TrackId("t0".into()), weight: 0, reverse: false },
            TrackConfig { id: TrackId("t1".into()), weight: -60, reverse: false },
        ];
        c.preempt = variant & 8 == 0;
        if variant & 16 != 0 {
            c.preempt_delay = Duration::from_millis(1500);
        }
        if variant & 32 != 0 && c.version == VrrpVersion::V2 {
            c.auth = AuthConfig::Pass(AuthConfig::pad(b"s3cret"));
        }
        Some(c)
    };
    let mut first = mk("A", 51, if variant & 0x80 != 0 { 255 } else { 100 }, 1)?;
    if variant & 8 != 0 {
        first.initial_state = InitialState::Master;
    }
    Some(RouterConfig {
        instances: vec![first, mk("B", 52, 150, 2)?, mk("C", 53, 50, 3)?],
        sync_groups: vec![SyncGroupConfig {
            name: "G".into(),
            members: vec!["B".into(), "C".into()],
            tracking_weight: false,
        }],
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&variant, mut rest)) = data.split_first() else { return };
    let Some(cfg) = config(variant) else { return };
    let six = variant & 0x40 != 0;
    let Ok(mut r) = Router::new(cfg) else { return };
    let mut now = Instant::ZERO;
    let mut steps = 0;
    while rest.len() >= 3 && steps < 2000 {
        steps += 1;
        let (op, dt) = (rest[0], u64::from(u16::from_le_bytes([rest[1], rest[2]])));
        rest = &rest[3..];
        now = now.add_micros(dt * 100);
        let input = match op % 8 {
            0 => Input::Start,
            1 => Input::Shutdown,
            2 | 7 => {
                if let Some(t) = r.poll_timeout() {
                    if t > now && op & 0x80 != 0 {
                        now = t;
                    }
                }
                Input::Timeout
            }
            3 => {
                let Some((&len, tail)) = rest.split_first() else { break };
                if tail.len() < 3 {
                    break;
                }
                let (src, ttl, flags) = (tail[0], tail[1], tail[2]);
                let body_len = usize::from(len).min(tail.len() - 3);
                let body = &tail[3..3 + body_len];
                rest = &tail[3 + body_len..];
                let fam = if six { Family::V6 } else { Family::V4 };
                let Ok(pkt) = VrrpPacket::decode(body, fam) else { continue };
                let src = if six { v6(src) } else { v4(src) };
                let mut meta = RxMeta::multicast(IfaceId(1 + u32::from(flags & 1)), src);
                meta.ttl = (flags & 2 == 0).then_some(ttl);
                meta.checksum_ok = flags & 4 == 0;
                meta.ah = match flags >> 6 {
                    0 => AhStatus::Absent,
                    1 => AhStatus::Valid,
                    _ => AhStatus::Invalid,
                };
                if flags & 8 != 0 {
                    meta.dst = if six { v6(10) } else { v4(10) };
                }
                Input::Packet(meta, pkt)
            }
            4 => Input::Link(IfaceId(1 + u32::from(op >> 6)), op & 8 != 0),
            _ => {
                let state = match op >> 5 {
                    0 | 1 => TrackState::Up,
                    2 | 3 => TrackState::Down,
                    v => TrackState::Value(i64::from(v) * 37 - 200),
                };
                Input::Track(TrackId(format!("t{}", (op >> 3) & 1)), state)
            }
        };
        r.handle(now, input);
        assert!(r.poll_timeout().is_none_or(|t| t >= now) || op % 8 != 2);
        let mut drained = 0usize;
        while r.poll_transmit().is_some() || r.poll_action().is_some() || r.poll_event().is_some() {
            drained += 1;
            assert!(drained < 100_000, "unbounded output");
        }
    }
});
