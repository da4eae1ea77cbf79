//! Sans-IO VRRP engine (VRRPv2, RFC 3768; VRRPv3, RFC 5798) with keepalived 2.2.7's
//! semantics.
//!
//! # Model
//!
//! A [`Router`] owns every VRRP [`Instance`] of one host and its sync groups. It performs
//! no I/O, reads no clock and spawns nothing: every input is a plain, serialisable value
//! with `now` ([`Instant`], microseconds since an epoch the caller chooses) passed in, and
//! every output is queued for the caller to drain. Timers are data: each instance holds its
//! deadlines inside its [`State`] (Master_Down_Timer in BACKUP, Adver_Timer and GARP
//! schedules in MASTER), and [`Router::poll_timeout`] returns the earliest.
//!
//! # Call order
//!
//! 1. [`Router::new`] with a [`RouterConfig`] (validated, keepalived's silent adjustments
//!    applied).
//! 2. Optionally [`Router::handle_link`] / [`Router::handle_track`] with the initial states
//!    (unknown links and tracks count as up), then [`Router::start`]`(now)`.
//! 3. Loop: feed [`Router::handle_packet`], [`Router::handle_link`],
//!    [`Router::handle_track`] as things happen and [`Router::handle_timeout`] when
//!    [`Router::poll_timeout`] has passed; after each call drain
//!    [`Router::poll_action`] (apply address/route changes first),
//!    [`Router::poll_transmit`] (adverts, GARPs, NAs) and [`Router::poll_event`].
//! 4. On a reload: [`Router::reconfigure`]`(now, new_config)`, then drain as after any
//!    input. Instances are matched by interface, family and VRID (keepalived's
//!    `vrrp_exist`); unchanged ones are untouched (timers included), changed ones apply
//!    only the differences, removed ones stop as on shutdown, new ones start; a refused
//!    configuration leaves the router as it was (see [`router::ReconfigureReport`]).
//! 5. [`Router::shutdown`]`(now)`, drain once more (priority 0 adverts, address removals).
//!
//! ```
//! use ka_vrrp::{IfaceId, Instant, InstanceConfig, Router, RouterConfig, StateKind, VipConfig};
//! use ka_model::Vrid;
//!
//! let mut cfg = InstanceConfig::new("VI_1", Vrid::new(51)?, IfaceId(1), "192.0.2.12".parse()?);
//! cfg.vips = vec![VipConfig::host("192.0.2.1".parse()?)];
//! let mut router = Router::new(RouterConfig { instances: vec![cfg], sync_groups: vec![] })?;
//! router.start(Instant::ZERO);
//! // Nobody else on the link: Master_Down_Interval (3 x 1 s + skew at priority 100) later...
//! let deadline = router.poll_timeout().ok_or("no timer")?;
//! assert_eq!(deadline, Instant::from_micros(3_609_375));
//! router.handle_timeout(deadline);
//! assert_eq!(router.instances()[0].state().kind(), StateKind::Master);
//! while let Some(action) = router.poll_action() { /* add 192.0.2.1 ... */ let _ = action; }
//! while let Some(tx) = router.poll_transmit() { /* one advert, then 5 GARPs */ let _ = tx; }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every input can also be given as one [`Input`] value to [`Router::handle`], so a run can
//! be recorded and replayed bit for bit; the engine is deterministic (no hashing, no
//! randomness, configuration order everywhere).
//!
//! # What the I/O layer does
//!
//! It decodes packets with `ka-wire`, verifies checksums and IPsec-AH ICVs (reported in
//! [`RxMeta`]), encodes [`Transmit::Advert`] (computing the checksum: the engine leaves it 0),
//! and applies [`Action`]s.
//!
//! A router must not be handed its own adverts (keepalived turns multicast loopback off).
//! A simulator delivers each [`Transmit::Advert`] to the other routers of the link
//! ([`Transmit::to_rx`] builds the receiver's view), multicast to all of them, unicast to
//! the router owning `dst`.
//!
//! # keepalived facts reproduced
//!
//! * Master_Down_Interval = `down_timer_adverts` (3) x Master_Adver_Interval + Skew_Time,
//!   with keepalived's integer arithmetic in microseconds ([`time::skew_time_us`]): 3609.375 ms
//!   at priority 100 and 1 s; 360.937 ms at 0.1 s; 36.093 ms at 0.01 s (v3).
//! * `state MASTER` and priority 255 become master at start; master sends a priority 0
//!   advert on shutdown and when entering FAULT; a master hearing a lower priority answers
//!   with an advert at once (unless `lower_prio_no_advert`); TTL is only checked for
//!   multicast instances, so keepalived's IPv6 unicast adverts (hop limit 64) are accepted.
//! * On becoming master: advert, then `garp_master_repeat` (5) GARP/NA per address, and
//!   the same again after `garp_master_delay` (5 s).
//!
//! # Choices where keepalived 2.2.7 and the RFCs differ
//!
//! * Count IPvX Addr: RFC 3768 section 7.1 says MUST match; keepalived's own count check is
//!   defeated by an operator-precedence slip (`naddr != empty ? 0 : size`). The engine
//!   checks count and list together, and skips both with `skip_check_adv_addr` for the
//!   current master (as keepalived skips its list check).
//! * A master yielding to a higher priority v3 advert uses the advertised interval for
//!   its new Master_Down_Interval (RFC 5798 section 6.4.3); keepalived recomputes it from
//!   its own interval until the next advert arrives.
//! * The AH ICV and checksums are verified outside (in the I/O layer), reported through
//!   [`RxMeta`].

pub mod config;
pub mod instance;
pub mod output;
pub mod router;
pub mod time;
pub mod track;

pub use config::{
    AuthConfig, ConfigError, Family, GarpConfig, IfaceId, InitialState, InstanceConfig,
    RouterConfig, SyncGroupConfig, TrackConfig, TrackId, TrackIfConfig, VipConfig,
};
pub use instance::{
    BackupState, Instance, MasterState, PeerInfo, State, Stats, TrackState, Transition,
};
pub use output::{Action, DropReason, Event, InstanceId, StateKind, TransitionReason, Transmit};
pub use router::{AhStatus, Input, ReconfigureReport, Router, RxMeta};
pub use time::Instant;
