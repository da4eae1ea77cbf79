//! `keepalived-rs realserver dr|tun|check`: prepares an LVS back end (real server) for
//! direct routing or IP tunnelling the way operators do it by hand, reversibly.
//!
//! What a back end needs (the LVS HOWTO's recipe, as keepalived users apply it):
//! - DR: each VIP on `lo` as a host address (/32, /128), `lo` up; for IPv4 VIPs
//!   `net.ipv4.conf.{all,lo}.arp_ignore=1` (answer ARP only for addresses of the
//!   interface asked, so the director alone answers for the VIP; 2 is accepted too) and
//!   `arp_announce=2` (ARP requests name the outgoing interface's address, never the VIP).
//!   IPv6 needs no setting: Linux answers neighbour solicitations only for addresses of the
//!   interface that received them.
//! - TUN: the `ipip` module (IPv4 VIPs) or `ip6_tunnel` (IPv6 VIPs), its catch-all device
//!   `tunl0` / `ip6tnl0` up, each VIP on it as a host address; for IPv4 the same ARP
//!   settings on `all` and `tunl0`, and `rp_filter` relaxed on `all` and `tunl0` (the
//!   kernel uses the larger of the two; strict mode 1 drops decapsulated packets whose
//!   source routes out elsewhere; 0 and 2 are accepted, 2 (loose) is what we set).
//!
//! `dr` / `tun` change only what is missing, record each change (a sysctl's previous value,
//! an address, a device created or brought up) in a state file before making it
//! ([`DEFAULT_STATE`], `--state FILE`), and say "nothing to change" when run again.
//! `--undo` removes the recorded addresses of that mode (those given with `--vip`, or all),
//! and once no recorded address is left puts every recorded sysctl back to its previous
//! value (unless someone changed it since), takes down what it brought up and deletes what
//! it created; modules stay loaded. Addresses and settings it did not make are never
//! touched. `check` reads only: one line per item, exit status 1 when one is missing.
//! Sysctls and addresses belong to a network namespace: preparing several namespaces of
//! one host takes one state file each (`--state`).
//!
//! All kernel access is ka-sys's: rtnetlink for links and addresses, `/proc/sys` for
//! sysctls, `modprobe` for modules.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use ka_sys::netlink::{AddrSpec, Netlink};
use ka_sys::sysctl::{self, Family};
use serde::{Deserialize, Serialize};

/// Where `dr` / `tun` record what they changed.
pub const DEFAULT_STATE: &str = "/run/keepalived-rs/realserver.json";

/// `keepalived-rs realserver ...`.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Prepare this host as a direct-routing (DR) back end: VIPs on lo, ARP sysctls.
    Dr(ApplyArgs),
    /// Prepare this host as a tunnelling (TUN) back end: ipip/ip6_tunnel, VIPs on
    /// tunl0/ip6tnl0, ARP and rp_filter sysctls.
    Tun(ApplyArgs),
    /// Report what is missing (exit status 1 when something is, 0 when nothing is).
    Check(CheckArgs),
}

/// Options of `realserver dr|tun`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A virtual address the director forwards to this host (repeatable); a prefix, if
    /// given, must be /32 or /128.
    #[arg(long = "vip", value_name = "ADDR", value_parser = parse_vip, required_unless_present = "undo")]
    pub vips: Vec<IpAddr>,
    /// Undo what earlier runs recorded: remove their addresses (only the --vip ones when
    /// given), then restore the sysctls once none is left.
    #[arg(long)]
    pub undo: bool,
    /// The state file recording the changes.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE)]
    pub state: PathBuf,
}

/// Options of `realserver check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The forwarding method to check for (default: the one recorded in the state file).
    #[arg(value_enum)]
    pub mode: Option<Mode>,
    /// A virtual address to check (repeatable; default: those recorded in the state file).
    #[arg(long = "vip", value_name = "ADDR", value_parser = parse_vip)]
    pub vips: Vec<IpAddr>,
    /// The state file `dr` / `tun` wrote.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE)]
    pub state: PathBuf,
}

/// LVS forwarding method of the director.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Direct routing (`lb_kind DR`).
    Dr,
    /// IP tunnelling (`lb_kind TUN`).
    Tun,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
        }
    }
}

fn parse_vip(s: &str) -> Result<IpAddr, String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address"))?;
    let full = if addr.is_ipv4() { "32" } else { "128" };
    match len {
        None => Ok(addr),
        Some(l) if l == full => Ok(addr),
        Some(l) => Err(format!(
            "a VIP on a back end is a host address: /{full}, not /{l}"
        )),
    }
}

fn host_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// A per-interface IPv4 sysctl and the values that satisfy it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SysctlNeed {
    ifname: &'static str,
    param: &'static str,
    /// Values that are fine as they are.
    accept: &'static [i64],
    /// What to set when the value is not accepted.
    target: i64,
}

impl SysctlNeed {
    fn key(&self) -> String {
        format!("net.ipv4.conf.{}.{}", self.ifname, self.param)
    }
}

/// One thing a back end needs, in the order they are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    /// A kernel module loaded.
    Module(&'static str),
    /// A catch-all tunnel device (created if missing) that is up.
    Tunnel { name: &'static str, v6: bool },
    /// An existing link that is up.
    Up(&'static str),
    /// A sysctl within its accepted values.
    Sysctl(SysctlNeed),
    /// A host address on an interface.
    Address { ifname: &'static str, addr: IpAddr },
}

const ARP_IGNORE: (&str, &[i64], i64) = ("arp_ignore", &[1, 2], 1);
const ARP_ANNOUNCE: (&str, &[i64], i64) = ("arp_announce", &[2], 2);
const RP_FILTER: (&str, &[i64], i64) = ("rp_filter", &[0, 2], 2);

fn sysctls(
    out: &mut Vec<Need>,
    ifnames: &[&'static str],
    params: &[(&'static str, &'static [i64], i64)],
) {
    for &(param, accept, target) in params {
        for &ifname in ifnames {
            out.push(Need::Sysctl(SysctlNeed {
                ifname,
                param,
                accept,
                target,
            }));
        }
    }
}

/// What `mode` needs for `vips`, in the order to apply it: modules, devices, sysctls (the
/// tunnel's exist only once the device does), then addresses.
fn needs(mode: Mode, vips: &[IpAddr]) -> Vec<Need> {
    let v4 = vips.iter().any(IpAddr::is_ipv4);
    let v6 = vips.iter().any(IpAddr::is_ipv6);
    let mut out = Vec::new();
    match mode {
        Mode::Dr => {
            out.push(Need::Up("lo"));
            if v4 {
                sysctls(&mut out, &["all", "lo"], &[ARP_IGNORE, ARP_ANNOUNCE]);
            }
        }
        Mode::Tun => {
            if v4 {
                out.push(Need::Module("ipip"));
                out.push(Need::Tunnel {
                    name: "tunl0",
                    v6: false,
                });
            }
            if v6 {
                out.push(Need::Module("ip6_tunnel"));
                out.push(Need::Tunnel {
                    name: "ip6tnl0",
                    v6: true,
                });
            }
            if v4 {
                sysctls(
                    &mut out,
                    &["all", "tunl0"],
                    &[ARP_IGNORE, ARP_ANNOUNCE, RP_FILTER],
                );
            }
        }
    }
    for &addr in vips {
        let ifname = match (mode, addr) {
            (Mode::Dr, _) => "lo",
            (Mode::Tun, IpAddr::V4(_)) => "tunl0",
            (Mode::Tun, IpAddr::V6(_)) => "ip6tnl0",
        };
        let n = Need::Address { ifname, addr };
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// One recorded change, undone in reverse order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
enum Change {
    /// A module loaded (left loaded by --undo: other users may need it).
    ModuleLoaded { name: String },
    /// A tunnel device created (deleted by --undo).
    LinkCreated { ifname: String },
    /// A link brought up (taken down by --undo).
    LinkUp { ifname: String },
    /// A sysctl changed from `original` to `set`.
    Sysctl {
        ifname: String,
        param: String,
        original: i64,
        set: i64,
    },
    /// An address added.
    Address {
        mode: Mode,
        ifname: String,
        addr: IpAddr,
        prefix_len: u8,
    },
}

/// The state file: what earlier runs changed, oldest first.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    changes: Vec<Change>,
}

impl State {
    fn load(path: &Path) -> Result<State, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| {
                format!(
                    "{}: not a realserver state file ({e}); move it away to start afresh",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the file (atomically: a temporary beside it, then rename), or removes it
    /// when nothing is recorded.
    fn save(&self, path: &Path) -> Result<(), String> {
        if self.changes.is_empty() {
            return match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
            };
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn has_sysctl(&self, ifname: &str, param: &str) -> bool {
        self.changes.iter().any(|c| {
            matches!(c, Change::Sysctl { ifname: i, param: p, .. } if i == ifname && p == param)
        })
    }

    fn addresses(&self) -> impl Iterator<Item = (Mode, IpAddr)> + '_ {
        self.changes.iter().filter_map(|c| match c {
            Change::Address { mode, addr, .. } => Some((*mode, *addr)),
            _ => None,
        })
    }
}

/// What one need looks like on this host now.
#[derive(Debug)]
enum Seen {
    Ok(String),
    Missing(String),
}

/// Reads the kernel's state of `need` (no change).
async fn observe(nl: &Netlink, need: &Need) -> Result<Seen, String> {
    Ok(match need {
        Need::Module(m) => {
            if ka_sys::tunnel::module_loaded(m) {
                Seen::Ok(format!("module {m} loaded"))
            } else {
                Seen::Missing(format!("module {m} not loaded"))
            }
        }
        Need::Tunnel { name, .. } | Need::Up(name) => match link(nl, name).await? {
            Some(l) if l.admin_up => Seen::Ok(format!("{name} up")),
            Some(_) => Seen::Missing(format!("{name} down")),
            None => Seen::Missing(format!("{name} does not exist")),
        },
        Need::Sysctl(s) => match sysctl::get(Family::V4, s.ifname, s.param) {
            Ok(v) if s.accept.contains(&v) => Seen::Ok(format!("{} = {v}", s.key())),
            Ok(v) => Seen::Missing(format!(
                "{} = {v} (want {})",
                s.key(),
                s.accept
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            Err(_) if ka_sys::error::ifindex(s.ifname).is_err() && s.ifname != "all" => {
                Seen::Missing(format!("{} ({} does not exist)", s.key(), s.ifname))
            }
            Err(e) => return Err(format!("{}: {e}", s.key())),
        },
        Need::Address { ifname, addr } => {
            let what = format!("{addr}/{} on {ifname}", host_len(*addr));
            match link(nl, ifname).await? {
                None => Seen::Missing(format!("{what} ({ifname} does not exist)")),
                Some(l) => {
                    let present = nl
                        .addresses(l.ifindex)
                        .await
                        .map_err(|e| e.to_string())?
                        .iter()
                        .any(|a| a.addr == *addr && a.prefix_len == host_len(*addr));
                    if present {
                        Seen::Ok(what)
                    } else {
                        Seen::Missing(what)
                    }
                }
            }
        }
    })
}

async fn link(nl: &Netlink, name: &str) -> Result<Option<ka_sys::netlink::Link>, String> {
    Ok(nl
        .links()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|l| l.name == name))
}

/// Makes `need` hold, recording each change in `state` (saved to `path` before the kernel
/// is changed, so a failure half-way leaves an undoable record). Returns what was done.
async fn make(
    nl: &Netlink,
    mode: Mode,
    need: &Need,
    state: &mut State,
    path: &Path,
) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    match need {
        Need::Module(m) => {
            ka_sys::tunnel::load_module(m).map_err(|e| {
                format!("{e}; TUN back ends need it (kernel option CONFIG_NET_IPIP / CONFIG_IPV6_TUNNEL)")
            })?;
            state.changes.push(Change::ModuleLoaded {
                name: (*m).to_owned(),
            });
            state.save(path)?;
            done.push(format!("loaded module {m}"));
        }
        Need::Tunnel { name, v6 } => {
            if link(nl, name).await?.is_none() {
                state.changes.push(Change::LinkCreated {
                    ifname: (*name).to_owned(),
                });
                state.save(path)?;
                nl.add_catchall_tunnel(name, *v6)
                    .await
                    .map_err(|e| format!("cannot create {name}: {e}"))?;
                done.push(format!("created {name}"));
            }
            done.extend(bring_up(nl, name, state, path).await?);
        }
        Need::Up(name) => done.extend(bring_up(nl, name, state, path).await?),
        Need::Sysctl(s) => {
            let original = sysctl::get(Family::V4, s.ifname, s.param)
                .map_err(|e| format!("{}: {e}", s.key()))?;
            if !state.has_sysctl(s.ifname, s.param) {
                state.changes.push(Change::Sysctl {
                    ifname: s.ifname.to_owned(),
                    param: s.param.to_owned(),
                    original,
                    set: s.target,
                });
                state.save(path)?;
            }
            sysctl::set(Family::V4, s.ifname, s.param, s.target)
                .map_err(|e| format!("{}: {e}", s.key()))?;
            done.push(format!("{} {original} -> {}", s.key(), s.target));
        }
        Need::Address { ifname, addr } => {
            let l = link(nl, ifname)
                .await?
                .ok_or_else(|| format!("{ifname} does not exist"))?;
            let len = host_len(*addr);
            state.changes.push(Change::Address {
                mode,
                ifname: (*ifname).to_owned(),
                addr: *addr,
                prefix_len: len,
            });
            state.save(path)?;
            let spec = AddrSpec::new(l.ifindex, *addr, len);
            if !nl.add_address(&spec).await.map_err(|e| e.to_string())? {
                // There after all (raced with someone): not ours to remove.
                state.changes.pop();
                state.save(path)?;
            } else {
                done.push(format!("added {addr}/{len} on {ifname}"));
            }
        }
    }
    Ok(done)
}

async fn bring_up(
    nl: &Netlink,
    name: &str,
    state: &mut State,
    path: &Path,
) -> Result<Vec<String>, String> {
    let l = link(nl, name)
        .await?
        .ok_or_else(|| format!("{name} does not exist"))?;
    if l.admin_up {
        return Ok(Vec::new());
    }
    state.changes.push(Change::LinkUp {
        ifname: name.to_owned(),
    });
    state.save(path)?;
    nl.set_link_up(l.ifindex, true)
        .await
        .map_err(|e| format!("cannot bring {name} up: {e}"))?;
    Ok(vec![format!("{name} brought up")])
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

/// Runs `keepalived-rs realserver ...`.
pub fn run(cmd: &Cmd) -> ExitCode {
    let result = match cmd {
        Cmd::Dr(a) | Cmd::Tun(a) => {
            let mode = if matches!(cmd, Cmd::Dr(_)) {
                Mode::Dr
            } else {
                Mode::Tun
            };
            if a.undo {
                undo(mode, a)
            } else {
                apply(mode, a)
            }
        }
        Cmd::Check(a) => check(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keepalived-rs realserver: {e}");
            ExitCode::from(1)
        }
    }
}

fn dedup(vips: &[IpAddr]) -> Vec<IpAddr> {
    let mut v = Vec::new();
    for a in vips {
        if !v.contains(a) {
            v.push(*a);
        }
    }
    v
}

fn apply(mode: Mode, a: &ApplyArgs) -> Result<ExitCode, String> {
    let mut state = State::load(&a.state)?;
    let vips = dedup(&a.vips);
    let rt = runtime()?;
    rt.block_on(async {
        let nl = Netlink::new().map_err(|e| e.to_string())?;
        let mut changed = 0;
        for need in needs(mode, &vips) {
            match observe(&nl, &need).await? {
                Seen::Ok(what) => println!("ok       {what}"),
                Seen::Missing(_) => {
                    for line in make(&nl, mode, &need, &mut state, &a.state).await? {
                        println!("changed  {line}");
                        changed += 1;
                    }
                }
            }
        }
        if changed == 0 {
            println!(
                "realserver {}: nothing to change, this host is already prepared",
                mode.name()
            );
        } else {
            println!(
                "realserver {}: {changed} change(s), recorded in {} (undo: keepalived-rs realserver {} --undo --state {})",
                mode.name(),
                a.state.display(),
                mode.name(),
                a.state.display()
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn undo(mode: Mode, a: &ApplyArgs) -> Result<ExitCode, String> {
    let mut state = State::load(&a.state)?;
    if state.changes.is_empty() {
        println!(
            "realserver {}: nothing recorded in {}, nothing to undo",
            mode.name(),
            a.state.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = runtime()?;
    rt.block_on(async {
        let nl = Netlink::new().map_err(|e| e.to_string())?;
        let mut undone = 0;
        // The addresses of this mode (the --vip ones, or all), newest first.
        let mut i = state.changes.len();
        while i > 0 {
            i -= 1;
            let Change::Address {
                mode: m,
                ifname,
                addr,
                prefix_len,
            } = &state.changes[i]
            else {
                continue;
            };
            if *m != mode || (!a.vips.is_empty() && !a.vips.contains(addr)) {
                continue;
            }
            if let Some(l) = link(&nl, ifname).await? {
                let spec = AddrSpec::new(l.ifindex, *addr, *prefix_len);
                if nl.del_address(&spec).await.map_err(|e| e.to_string())? {
                    println!("undone   removed {addr}/{prefix_len} from {ifname}");
                    undone += 1;
                } else {
                    println!("gone     {addr}/{prefix_len} was no longer on {ifname}");
                }
            } else {
                println!("gone     {ifname} no longer exists ({addr}/{prefix_len})");
            }
            state.changes.remove(i);
            state.save(&a.state)?;
        }
        let left: Vec<String> = state
            .addresses()
            .map(|(m, addr)| format!("{addr} ({})", m.name()))
            .collect();
        if !left.is_empty() {
            println!(
                "kept     the sysctls and devices: still recorded for {}",
                left.join(", ")
            );
            println!("realserver {}: {undone} change(s) undone", mode.name());
            return Ok(ExitCode::SUCCESS);
        }
        while let Some(c) = state.changes.pop() {
            match &c {
                Change::Sysctl {
                    ifname,
                    param,
                    original,
                    set,
                } => {
                    let key = format!("net.ipv4.conf.{ifname}.{param}");
                    match sysctl::get(Family::V4, ifname, param) {
                        Ok(now) if now == *set => {
                            sysctl::set(Family::V4, ifname, param, *original)
                                .map_err(|e| format!("{key}: {e}"))?;
                            println!("undone   {key} {set} -> {original}");
                            undone += 1;
                        }
                        Ok(now) => println!(
                            "kept     {key} = {now}: changed by someone else since it was set to {set} (was {original})"
                        ),
                        Err(_) => println!("gone     {key} ({ifname} no longer exists)"),
                    }
                }
                Change::LinkUp { ifname } => {
                    if let Some(l) = link(&nl, ifname).await? {
                        nl.set_link_up(l.ifindex, false)
                            .await
                            .map_err(|e| format!("cannot take {ifname} down: {e}"))?;
                        println!("undone   {ifname} taken down");
                        undone += 1;
                    }
                }
                Change::LinkCreated { ifname } => {
                    if let Some(l) = link(&nl, ifname).await? {
                        nl.del_link(l.ifindex)
                            .await
                            .map_err(|e| format!("cannot delete {ifname}: {e}"))?;
                        println!("undone   deleted {ifname}");
                        undone += 1;
                    }
                }
                Change::ModuleLoaded { name } => {
                    println!("kept     module {name} loaded (other users may need it)");
                }
                Change::Address { .. } => {
                    // Only another mode's, and none is left (checked above).
                }
            }
            state.save(&a.state)?;
        }
        println!("realserver {}: {undone} change(s) undone", mode.name());
        Ok(ExitCode::SUCCESS)
    })
}

/// The (mode, VIPs) groups `check` looks at: the arguments, filled in from the state file.
fn check_groups(a: &CheckArgs, state: &State) -> Result<Vec<(Mode, Vec<IpAddr>)>, String> {
    let recorded: Vec<(Mode, IpAddr)> = state.addresses().collect();
    let mode_of = |addr: &IpAddr| recorded.iter().find(|(_, r)| r == addr).map(|(m, _)| *m);
    let mut groups: Vec<(Mode, Vec<IpAddr>)> = Vec::new();
    let mut add = |m: Mode, addr: IpAddr| match groups.iter_mut().find(|(g, _)| *g == m) {
        Some((_, v)) if v.contains(&addr) => {}
        Some((_, v)) => v.push(addr),
        None => groups.push((m, vec![addr])),
    };
    match (a.mode, a.vips.is_empty()) {
        (Some(m), false) => a.vips.iter().for_each(|v| add(m, *v)),
        (Some(m), true) => recorded
            .iter()
            .filter(|(r, _)| *r == m)
            .for_each(|(_, v)| add(m, *v)),
        (None, false) => {
            for v in &a.vips {
                let m = mode_of(v).ok_or_else(|| {
                    format!("{v}: say which method to check for (realserver check dr|tun --vip {v}); {} records nothing for it", a.state.display())
                })?;
                add(m, *v);
            }
        }
        (None, true) => recorded.iter().for_each(|(m, v)| add(*m, *v)),
    }
    if groups.is_empty() {
        return Err(format!(
            "nothing to check: give the method and the VIPs (realserver check dr|tun --vip ADDR); {} records none",
            a.state.display()
        ));
    }
    Ok(groups)
}

fn check(a: &CheckArgs) -> Result<ExitCode, String> {
    let state = State::load(&a.state)?;
    let groups = match check_groups(a, &state) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("keepalived-rs realserver: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut all: Vec<Need> = Vec::new();
    for (m, vips) in &groups {
        for n in needs(*m, vips) {
            if !all.contains(&n) {
                all.push(n);
            }
        }
    }
    let rt = runtime()?;
    rt.block_on(async {
        let nl = Netlink::new().map_err(|e| e.to_string())?;
        let mut missing = 0;
        for need in &all {
            match observe(&nl, need).await? {
                Seen::Ok(what) => println!("ok       {what}"),
                Seen::Missing(what) => {
                    println!("missing  {what}");
                    missing += 1;
                }
            }
        }
        let what: Vec<String> = groups
            .iter()
            .map(|(m, v)| {
                let v: Vec<String> = v.iter().map(IpAddr::to_string).collect();
                format!("{} {}", m.name(), v.join(" "))
            })
            .collect();
        if missing == 0 {
            println!("realserver check ({}): nothing missing", what.join("; "));
            Ok(ExitCode::SUCCESS)
        } else {
            println!(
                "realserver check ({}): {missing} item(s) missing",
                what.join("; ")
            );
            Ok(ExitCode::from(1))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn vips_are_host_addresses() {
        assert_eq!(parse_vip("192.0.2.10"), Ok(ip("192.0.2.10")));
        assert_eq!(parse_vip("192.0.2.10/32"), Ok(ip("192.0.2.10")));
        assert_eq!(parse_vip("2001:db8::10/128"), Ok(ip("2001:db8::10")));
        assert!(parse_vip("192.0.2.10/24").unwrap_err().contains("/32"));
        assert!(parse_vip("2001:db8::10/64").unwrap_err().contains("/128"));
        assert!(parse_vip("web1").unwrap_err().contains("not an IPv4"));
    }

    #[test]
    fn dr_needs_arp_settings_for_ipv4_only() {
        let n = needs(Mode::Dr, &[ip("192.0.2.10")]);
        let keys: Vec<String> = n
            .iter()
            .filter_map(|n| match n {
                Need::Sysctl(s) => Some(s.key()),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            [
                "net.ipv4.conf.all.arp_ignore",
                "net.ipv4.conf.lo.arp_ignore",
                "net.ipv4.conf.all.arp_announce",
                "net.ipv4.conf.lo.arp_announce"
            ]
        );
        assert_eq!(n[0], Need::Up("lo"));
        assert_eq!(
            n.last(),
            Some(&Need::Address {
                ifname: "lo",
                addr: ip("192.0.2.10")
            })
        );
        // IPv6 alone: lo up and the address, no sysctl.
        assert_eq!(
            needs(Mode::Dr, &[ip("2001:db8::10")]),
            [
                Need::Up("lo"),
                Need::Address {
                    ifname: "lo",
                    addr: ip("2001:db8::10")
                }
            ]
        );
    }

    #[test]
    fn tun_needs_module_device_then_sysctls_then_addresses() {
        let n = needs(Mode::Tun, &[ip("192.0.2.10"), ip("2001:db8::10")]);
        assert_eq!(n[0], Need::Module("ipip"));
        assert_eq!(
            n[1],
            Need::Tunnel {
                name: "tunl0",
                v6: false
            }
        );
        assert_eq!(n[2], Need::Module("ip6_tunnel"));
        let rp: Vec<&SysctlNeed> = n
            .iter()
            .filter_map(|n| match n {
                Need::Sysctl(s) if s.param == "rp_filter" => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(rp.len(), 2);
        assert!(rp.iter().all(|s| s.accept == [0, 2] && s.target == 2));
        let addrs: Vec<(&str, IpAddr)> = n
            .iter()
            .filter_map(|n| match n {
                Need::Address { ifname, addr } => Some((*ifname, *addr)),
                _ => None,
            })
            .collect();
        assert_eq!(
            addrs,
            [("tunl0", ip("192.0.2.10")), ("ip6tnl0", ip("2001:db8::10"))]
        );
        // Every sysctl comes after the device it lives on.
        let tunnel_at = n
            .iter()
            .position(|x| matches!(x, Need::Tunnel { name: "tunl0", .. }))
            .unwrap();
        let first_sysctl = n.iter().position(|x| matches!(x, Need::Sysctl(_))).unwrap();
        assert!(tunnel_at < first_sysctl);
    }

    #[test]
    fn state_round_trips_and_empty_state_removes_the_file() {
        let dir = std::env::temp_dir().join(format!("ka-rs-state-{}", std::process::id()));
        let path = dir.join("sub/realserver.json");
        let s = State {
            changes: vec![
                Change::ModuleLoaded {
                    name: "ipip".into(),
                },
                Change::Sysctl {
                    ifname: "all".into(),
                    param: "arp_ignore".into(),
                    original: 0,
                    set: 1,
                },
                Change::Address {
                    mode: Mode::Dr,
                    ifname: "lo".into(),
                    addr: ip("192.0.2.10"),
                    prefix_len: 32,
                },
            ],
        };
        s.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), s);
        assert!(s.has_sysctl("all", "arp_ignore"));
        assert!(!s.has_sysctl("lo", "arp_ignore"));
        State::default().save(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(State::load(&path).unwrap(), State::default());
        std::fs::write(&path, "{").unwrap();
        let e = State::load(&path).unwrap_err();
        assert!(e.contains("not a realserver state file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn check_takes_what_the_state_file_lacks_from_it() {
        let state = State {
            changes: vec![
                Change::Address {
                    mode: Mode::Tun,
                    ifname: "tunl0".into(),
                    addr: ip("192.0.2.10"),
                    prefix_len: 32,
                },
                Change::Address {
                    mode: Mode::Dr,
                    ifname: "lo".into(),
                    addr: ip("192.0.2.11"),
                    prefix_len: 32,
                },
            ],
        };
        let args = |mode, vips: &[&str]| CheckArgs {
            mode,
            vips: vips.iter().map(|v| ip(v)).collect(),
            state: PathBuf::from("/x"),
        };
        assert_eq!(
            check_groups(&args(None, &[]), &state).unwrap(),
            [
                (Mode::Tun, vec![ip("192.0.2.10")]),
                (Mode::Dr, vec![ip("192.0.2.11")])
            ]
        );
        assert_eq!(
            check_groups(&args(Some(Mode::Dr), &[]), &state).unwrap(),
            [(Mode::Dr, vec![ip("192.0.2.11")])]
        );
        assert_eq!(
            check_groups(&args(None, &["192.0.2.10"]), &state).unwrap(),
            [(Mode::Tun, vec![ip("192.0.2.10")])]
        );
        assert!(check_groups(&args(None, &["192.0.2.99"]), &state)
            .unwrap_err()
            .contains("say which method"));
        assert!(check_groups(&args(None, &[]), &State::default())
            .unwrap_err()
            .contains("nothing to check"));
        assert_eq!(
            check_groups(&args(Some(Mode::Dr), &["192.0.2.99"]), &State::default()).unwrap(),
            [(Mode::Dr, vec![ip("192.0.2.99")])]
        );
    }
}
