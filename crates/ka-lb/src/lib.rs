//! Pure load-balancer logic with keepalived 2.2.7's semantics: what the IPVS (or
//! nftables) table should hold, and how to get there from what it holds.
//!
//! # Model
//!
//! * [`Table`]: backend-neutral services ([`ServiceKey`]: protocol + address + port,
//!   or fwmark + family; [`ServiceAttrs`]: scheduler name, flags, persistence) with
//!   their destinations ([`DestKey`]: address + port; [`Dest`]: weight, forwarding
//!   method with tunnel type/port/checksum, upper and lower thresholds).
//! * Inputs, all plain serialisable values: the validated configuration
//!   (`ka_model::lvs::LvsConfig`), the checker [`Verdicts`] (built from ka-check's
//!   events), the quorum state [`LbState`] and the addresses this host holds
//!   ([`Vips`], for `ha_suspend`).
//! * [`desired()`] is a pure function of those inputs; [`LbState::update`] is the only
//!   state machine (the quorum with its hysteresis) and returns typed
//!   [`QuorumEvent`]s (`quorum_up` / `quorum_down` scripts, notify FIFO lines, alerts).
//! * [`diff()`] compares the table read back from the data plane with the desired one
//!   and returns ordered [`Op`]s; it deletes only services listed in [`Owned`].
//!
//! No I/O, no clock, no threads: the daemon reads the kernel, calls these functions,
//! and writes the operations.
//!
//! # Call order
//!
//! 1. At start: `let mut verdicts = Verdicts::new(); let mut state = LbState::new();`
//!    feed every ka-check event to [`Verdicts::apply`] (the `Initial` ones first).
//! 2. Whenever a verdict changed (or the VIPs or the configuration changed):
//!    `for e in state.update(&cfg, &verdicts) { /* run scripts, log */ }`, then
//!    `let want = desired(&cfg, &verdicts, &state, &vips, &opts)?;`,
//!    read the kernel into `have`, `let ops = diff(&have, &want, &owned);`, apply them
//!    in order and `owned.update(&want, &ops)`.
//! 3. On reload: ka-check emits `Reloaded` and new `Initial` events ([`Verdicts::apply`]
//!    forgets the old positions); call [`LbState::update`] with the new configuration
//!    (unchanged virtual servers keep their quorum state, matched by [`vs_name`]), then
//!    [`desired()`] and [`diff()`] as above: services of removed virtual servers are
//!    deleted because they are owned.
//! 4. On shutdown: [`LbState::shutdown`] (omega `quorum_down` events), then
//!    `diff(&have, &Table::new(), &owned)` removes everything this process created.
//!
//! ```
//! use ka_lb::{desired, diff, LbState, Op, Options, Owned, Table, Verdicts, Vips};
//! use ka_check::{fixture, RealServerId};
//!
//! let rs = |ip: &str| fixture::real_server(ip.parse().unwrap(), 80, vec![]);
//! let lvs = fixture::lvs(vec![fixture::virtual_server(
//!     "192.0.2.1".parse()?, 80, vec![rs("192.0.2.10"), rs("192.0.2.11")])]);
//! let mut verdicts = Verdicts::new();
//! let mut state = LbState::new();
//! state.update(&lvs, &verdicts);
//! let first = desired(&lvs, &verdicts, &state, &Vips::new(), &Options::default())?;
//! assert_eq!(first.dest_count(), 2);
//!
//! // 192.0.2.11 fails its checks: one DelDest.
//! verdicts.set(RealServerId { vs: 0, rs: 1 }, false, 1);
//! state.update(&lvs, &verdicts);
//! let next = desired(&lvs, &verdicts, &state, &Vips::new(), &Options::default())?;
//! let ops = diff(&first, &next, &Owned::of(&first));
//! assert!(matches!(ops.as_slice(), [Op::DelDest { .. }]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # keepalived facts reproduced (check/ipwrapper.c, check/check_data.c)
//!
//! * Quorum: the alive weight is the sum of the effective weights of the real servers
//!   in the pool; the quorum is lowered to the total configured weight and the
//!   hysteresis to one below the quorum. Without quorum, the alive weight must reach
//!   `quorum + hysteresis`; with it, it is lost below `quorum - hysteresis` (or at 0).
//! * Sorry server: installed (weight 1) when the quorum is lost, and the alive real
//!   servers are then removed (set to weight 0 with `inhibit_on_failure`); removed,
//!   or kept at weight 0 with `sorry_server_inhibit`, when it is regained.
//! * `inhibit_on_failure`: a failed real server stays with weight 0.
//! * A virtual server group expands to one service per address of each range and per
//!   fwmark; a port-less address service is persistent (360 s by default).
//! * Ports: on an address virtual server a real server without a port takes the
//!   virtual server's, and so does a DR/TUN sorry server (a NAT one stays at 0); on
//!   a group or fwmark service a missing port is 0.
//! * A virtual server without real servers is ignored (even with a sorry server);
//!   with a total configured weight of 0 the quorum is never met.
//! * Quorum events: at start `quorum_up` runs when the quorum is met, `quorum_down`
//!   only when it is not and a sorry server exists; with `omega`, `quorum_down` also
//!   runs at shutdown.
//! * Real servers with an `alpha` checker start out of the pool; without checkers a
//!   real server is always in it.
//!
//! # Choices and limits
//!
//! * `ha_suspend`: keepalived 2.2.7 only suspends checkers while the address is absent
//!   (the default, [`HaSuspend::ChecksOnly`]); [`HaSuspend::GateServices`] also keeps
//!   the services out of the table while the address is absent.
//! * Group ranges are limited to [`MAX_RANGE_ADDRESSES`] addresses each and a table to
//!   [`MAX_SERVICES`] services ([`LbError`]).
//! * Services another program created are adopted when the configuration asks for
//!   them (their destinations and attributes are made to match), never deleted
//!   otherwise.
//! * Two virtual servers expanding to the same service share it: the first one's
//!   scheduler, flags and persistence win and the destinations are merged.
//! * Verdicts are keyed by ka-check's positions (`RealServerId`); after a reload the
//!   `Reloaded` event clears them and the new `Initial` events refill them.

pub mod desired;
pub mod diff;
pub mod table;

pub use desired::{
    alive_weight, desired, effective_quorum, vs_name, HaSuspend, LbError, LbState, Options,
    QuorumEvent, RsVerdict, Verdicts, Vips, DEFAULT_PERSISTENCE_S, MAX_RANGE_ADDRESSES,
    MAX_SERVICES,
};
pub use diff::diff;
pub use table::{
    ApplyError, Dest, DestKey, Family, Forwarding, Op, Owned, Persistence, Protocol, Service,
    ServiceAttrs, ServiceFlags, ServiceKey, Table, TunnelChecksum, TunnelType,
};
