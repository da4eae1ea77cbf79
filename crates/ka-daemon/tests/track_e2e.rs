//! End-to-end: tracking and notifications of the real `keepalived-rs` binary, two nodes in
//! network namespaces joined by a veth pair (see `common`): a failing `vrrp_script` (with
//! and without weight), a `track_file` value, a `track_process`, a sync group moving
//! together, notify scripts (arguments and order) and `notify_fifo` lines.
//!
//! Runs as root (as CI does). Names are unique (pid + counter), addresses come from
//! 192.0.2.0/24, namespaces, daemons and helper processes are removed on drop and every
//! wait is bounded (generous bounds: the machine is small and shared).
// Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{unique_name, wait_until, Daemon, Pair, TmpDir};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const VIP: &str = "192.0.2.100";
const VIP2: &str = "192.0.2.101";
const WAIT: Duration = Duration::from_secs(15);

/// One instance at advert_int 0.1 (v3), `extra` inside the instance block, `top` before it.
fn conf(top: &str, ifname: &str, prio: u8, extra: &str) -> String {
    format!(
        "{top}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface {ifname}\n  \
         virtual_router_id 51\n  version 3\n  priority {prio}\n  advert_int 0.1\n{extra}\n  \
         virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n"
    )
}

/// Writes an executable shell script (mode 0755, in a root-owned 0755 directory: safe for
/// `enable_script_security`).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn tmp() -> TmpDir {
    let d = TmpDir::new();
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn logs(da: &Daemon, db: &Daemon) -> String {
    format!("\n--- a ---\n{}\n--- b ---\n{}", da.log(), db.log())
}

/// Waits until the VIP is on `a` only (`on_a`) or on `b` only.
fn vip_moves(p: &Pair, addr: &str, on_a: bool, da: &Daemon, db: &Daemon, what: &str) {
    let t = wait_until(WAIT, || {
        p.a.has(&p.a_if, addr) == on_a && p.b.has(&p.b_if, addr) != on_a
    });
    assert!(
        t.is_some(),
        "{what}: {addr} not on {} only{}",
        if on_a { "a" } else { "b" },
        logs(da, db)
    );
}

/// A script that passes while `flag` does not exist.
fn flag_check(dir: &Path) -> (PathBuf, PathBuf) {
    let flag = dir.join("fail");
    let chk = script(dir, "chk.sh", &format!("test ! -e {}", flag.display()));
    (chk, flag)
}

#[test]
fn track_script_weight_moves_the_vip_and_back() {
    let p = Pair::new();
    let dir = tmp();
    let (chk, flag) = flag_check(&dir.0);
    let top = format!(
        "global_defs {{\n  enable_script_security\n}}\nvrrp_script chk {{\n  script \"{}\"\n  \
         interval 1\n  weight -60\n  fall 2\n  rise 2\n}}",
        chk.display()
    );
    let track = "  track_script {\n    chk\n  }";
    let da = Daemon::start(&p.a, &dir, "a", &conf(&top, &p.a_if, 150, track));
    let db = Daemon::start(&p.b, &dir, "b", &conf("", &p.b_if, 100, ""));
    vip_moves(&p, VIP, true, &da, &db, "start");
    // 150 - 60 = 90 < 100: b preempts.
    std::fs::write(&flag, "").unwrap();
    vip_moves(&p, VIP, false, &da, &db, "script failing");
    assert!(da.log().contains("VRRP_Script(chk) failed"), "{}", da.log());
    assert!(
        !da.log().contains("FAULT"),
        "a weighted script never means FAULT{}",
        logs(&da, &db)
    );
    std::fs::remove_file(&flag).unwrap();
    vip_moves(&p, VIP, true, &da, &db, "script passing again");
    assert!(
        da.log().contains("VRRP_Script(chk) succeeded"),
        "{}",
        da.log()
    );
}

#[test]
fn track_script_without_weight_means_fault() {
    let p = Pair::new();
    let dir = tmp();
    let (chk, flag) = flag_check(&dir.0);
    let top = format!(
        "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n}}",
        chk.display()
    );
    let track = "  track_script {\n    chk\n  }";
    let da = Daemon::start(&p.a, &dir, "a", &conf(&top, &p.a_if, 150, track));
    let db = Daemon::start(&p.b, &dir, "b", &conf("", &p.b_if, 100, ""));
    vip_moves(&p, VIP, true, &da, &db, "start");
    std::fs::write(&flag, "").unwrap();
    vip_moves(&p, VIP, false, &da, &db, "script failing");
    assert!(
        wait_until(WAIT, || da.log().contains("Entering FAULT STATE")).is_some(),
        "a not in FAULT{}",
        logs(&da, &db)
    );
    std::fs::remove_file(&flag).unwrap();
    vip_moves(&p, VIP, true, &da, &db, "script passing again");
}

#[test]
fn track_file_value_times_weight() {
    let p = Pair::new();
    let dir = tmp();
    let file = dir.0.join("track");
    // init_file writes 0 when the file does not exist.
    let top = format!(
        "vrrp_track_file tf {{\n  file {}\n  weight -1\n  init_file 0\n}}",
        file.display()
    );
    let track = "  track_file {\n    tf\n  }";
    let da = Daemon::start(&p.a, &dir, "a", &conf(&top, &p.a_if, 150, track));
    let db = Daemon::start(&p.b, &dir, "b", &conf("", &p.b_if, 100, ""));
    vip_moves(&p, VIP, true, &da, &db, "start");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "0");
    // 150 + 60 * -1 = 90 < 100.
    std::fs::write(&file, "60\n").unwrap();
    vip_moves(&p, VIP, false, &da, &db, "file value 60");
    // 150 - 40 = 110 > 100: a preempts back.
    std::fs::write(&file, "40\n").unwrap();
    vip_moves(&p, VIP, true, &da, &db, "file value 40");
}

/// A `sleep` with an argument nobody else uses; killed (by PID) on drop.
struct Sleeper(std::process::Child);
impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn track_process_quorum_moves_the_vip() {
    let p = Pair::new();
    let dir = tmp();
    let n = common::COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let arg = format!("{}.{}", 3000 + n, std::process::id());
    let top = format!("vrrp_track_process tp {{\n  process sleep {arg}\n  weight 60\n}}");
    let track = "  track_process {\n    tp\n  }";
    // a: 90 without the process, 150 with it.
    let da = Daemon::start(&p.a, &dir, "a", &conf(&top, &p.a_if, 90, track));
    let db = Daemon::start(&p.b, &dir, "b", &conf("", &p.b_if, 100, ""));
    vip_moves(&p, VIP, false, &da, &db, "start without the process");
    let sleeper = Sleeper(
        std::process::Command::new("sleep")
            .arg(&arg)
            .spawn()
            .expect("sleep (coreutils)"),
    );
    vip_moves(&p, VIP, true, &da, &db, "process started");
    drop(sleeper);
    vip_moves(&p, VIP, false, &da, &db, "process stopped");
    assert!(da.log().contains("Track_process(tp)"), "{}", da.log());
    // Which way the daemon learnt of the process (the proc connector only works in the
    // initial network namespace; here it polls /proc).
    let mode = da
        .log()
        .lines()
        .find(|l| l.contains("proc connector"))
        .map(str::to_owned);
    assert!(mode.is_some(), "{}", da.log());
    eprintln!("{}", mode.unwrap_or_default());
}

#[test]
fn notify_scripts_and_fifo_lines_in_order() {
    let p = Pair::new();
    let dir = tmp();
    let out = dir.0.join("notify.log");
    let fifo_log = dir.0.join("fifo.log");
    let n = script(&dir.0, "n.sh", &format!("echo \"$*\" >> {}", out.display()));
    let reader = script(
        &dir.0,
        "fifo.sh",
        &format!("exec cat \"$1\" >> {}", fifo_log.display()),
    );
    let fifo = dir.0.join(unique_name("fifo"));
    let n = n.display();
    let top = format!(
        "global_defs {{\n  enable_script_security\n  notify_fifo {}\n  notify_fifo_script {}\n}}",
        fifo.display(),
        reader.display()
    );
    let extra = format!(
        "  notify_master \"{n} master\"\n  notify_backup \"{n} backup\"\n  \
         notify_fault \"{n} fault\"\n  notify_stop \"{n} stop\"\n  notify \"{n} any\""
    );
    // a alone: BACKUP, then MASTER after Master_Down_Interval, then STOP on SIGTERM.
    let mut da = Daemon::start(&p.a, &dir, "a", &conf(&top, &p.a_if, 150, &extra));
    assert!(
        wait_until(WAIT, || p.a.has(&p.a_if, VIP)).is_some(),
        "a never became master\n{}",
        da.log()
    );
    da.signal("-TERM");
    assert_eq!(da.wait_exit(WAIT), Some(0), "{}", da.log());
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    let want = "backup\nany INSTANCE VI_1 BACKUP 150\nmaster\nany INSTANCE VI_1 MASTER 150\n\
                stop\nany INSTANCE VI_1 STOP 150\n";
    assert_eq!(got, want, "notify scripts\n{}", da.log());
    let got = std::fs::read_to_string(&fifo_log).unwrap_or_default();
    let want =
        "INSTANCE \"VI_1\" BACKUP 150\nINSTANCE \"VI_1\" MASTER 150\nINSTANCE \"VI_1\" STOP 150\n";
    assert_eq!(got, want, "FIFO lines\n{}", da.log());
    assert!(
        !fifo.exists(),
        "the FIFO created by the daemon is removed at exit"
    );
}

#[test]
fn insecure_notify_script_is_refused_with_script_security() {
    let p = Pair::new();
    let dir = tmp();
    let out = dir.0.join("notify.log");
    let n = script(&dir.0, "n.sh", &format!("echo \"$*\" >> {}", out.display()));
    std::fs::set_permissions(&n, std::fs::Permissions::from_mode(0o777)).unwrap();
    let top = "global_defs {\n  enable_script_security\n}";
    let extra = format!("  notify \"{} any\"", n.display());
    let da = Daemon::start(&p.a, &dir, "a", &conf(top, &p.a_if, 150, &extra));
    assert!(
        wait_until(WAIT, || p.a.has(&p.a_if, VIP)).is_some(),
        "a never became master\n{}",
        da.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!out.exists(), "the insecure script ran\n{}", da.log());
    assert!(da.log().contains("SECURITY VIOLATION"), "{}", da.log());
}

fn group_conf(top: &str, ifname: &str, prio: u8, extra: &str, group_extra: &str) -> String {
    let inst = |name: &str, vrid: u8, vip: &str, extra: &str| {
        format!(
            "vrrp_instance {name} {{\n  state BACKUP\n  interface {ifname}\n  \
             virtual_router_id {vrid}\n  version 3\n  priority {prio}\n  advert_int 0.1\n\
             {extra}\n  virtual_ipaddress {{\n    {vip}/32\n  }}\n}}\n"
        )
    };
    format!(
        "{top}\nvrrp_sync_group G {{\n  group {{\n    VI_1\n    VI_2\n  }}\n{group_extra}\n}}\n{}{}",
        inst("VI_1", 51, VIP, extra),
        inst("VI_2", 52, VIP2, "")
    )
}

#[test]
fn sync_group_moves_together_when_a_member_script_fails() {
    let p = Pair::new();
    let dir = tmp();
    let (chk, flag) = flag_check(&dir.0);
    let out = dir.0.join("group.log");
    let n = script(&dir.0, "g.sh", &format!("echo \"$*\" >> {}", out.display()));
    let top = format!(
        "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n}}",
        chk.display()
    );
    // Unweighted (keepalived ignores weighted scripts of sync group members): failure
    // means FAULT, and the whole group follows.
    let track = "  track_script {\n    chk\n  }";
    let gn = format!("  notify \"{} g\"", n.display());
    let da = Daemon::start(&p.a, &dir, "a", &group_conf(&top, &p.a_if, 150, track, &gn));
    let db = Daemon::start(&p.b, &dir, "b", &group_conf("", &p.b_if, 100, "", ""));
    vip_moves(&p, VIP, true, &da, &db, "start VI_1");
    vip_moves(&p, VIP2, true, &da, &db, "start VI_2");
    std::fs::write(&flag, "").unwrap();
    vip_moves(&p, VIP, false, &da, &db, "VI_1 script failing");
    vip_moves(&p, VIP2, false, &da, &db, "VI_2 follows its group");
    std::fs::remove_file(&flag).unwrap();
    vip_moves(&p, VIP, true, &da, &db, "VI_1 back");
    vip_moves(&p, VIP2, true, &da, &db, "VI_2 back");
    // The group's notify script ran for each group state, in order: MASTER, FAULT, and
    // MASTER again (scripts run after the VIPs move: wait for the last line).
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let done = wait_until(WAIT, || {
        let got = read();
        let lines: Vec<&str> = got.lines().collect();
        let first_master = lines.iter().position(|x| *x == "g GROUP G MASTER 0");
        let fault = lines.iter().position(|x| *x == "g GROUP G FAULT 0");
        let last_master = lines.iter().rposition(|x| *x == "g GROUP G MASTER 0");
        matches!((first_master, fault, last_master), (Some(m), Some(f), Some(l)) if m < f && f < l)
    });
    assert!(
        done.is_some(),
        "group notifies: {:?}{}",
        read(),
        logs(&da, &db)
    );
}

#[test]
fn reload_runs_new_tracking_and_notifies_deleted() {
    let p = Pair::new();
    let dir = tmp();
    let out = dir.0.join("notify.log");
    let (chk, flag) = flag_check(&dir.0);
    let n = script(&dir.0, "n.sh", &format!("echo \"$*\" >> {}", out.display()));
    let n = n.display();
    let first = format!(
        "vrrp_instance VI_1 {{\n  state BACKUP\n  interface {}\n  virtual_router_id 51\n  \
         version 3\n  priority 150\n  advert_int 0.1\n  notify \"{n} any\"\n  notify_deleted\n  \
         virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n",
        p.a_if
    );
    let da = Daemon::start(&p.a, &dir, "a", &first);
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        wait_until(WAIT, || read().contains("any INSTANCE VI_1 MASTER 150")).is_some(),
        "{:?}\n{}",
        read(),
        da.log()
    );
    // The new configuration removes VI_1 and adds VI_2, tracking a failing script.
    std::fs::write(&flag, "").unwrap();
    let second = format!(
        "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n}}\n\
         vrrp_instance VI_2 {{\n  state BACKUP\n  interface {}\n  virtual_router_id 52\n  \
         version 3\n  priority 120\n  advert_int 0.1\n  notify \"{n} any\"\n  \
         track_script {{\n    chk\n  }}\n  virtual_ipaddress {{\n    {VIP2}/32\n  }}\n}}\n",
        chk.display(),
        p.a_if
    );
    std::fs::write(dir.0.join("a.conf"), second).unwrap();
    da.signal("-HUP");
    assert!(
        wait_until(WAIT, || read().contains("any INSTANCE VI_1 DELETED 150")
            && read().contains("any INSTANCE VI_2 FAULT 120"))
        .is_some(),
        "{:?}\n{}",
        read(),
        da.log()
    );
    assert!(!p.a.has(&p.a_if, VIP2), "VI_2 in FAULT holds no VIP");
    std::fs::remove_file(&flag).unwrap();
    assert!(
        wait_until(WAIT, || p.a.has(&p.a_if, VIP2)
            && read().contains("any INSTANCE VI_2 MASTER 120"))
        .is_some(),
        "{:?}\n{}",
        read(),
        da.log()
    );
    assert!(!p.a.has(&p.a_if, VIP), "VI_1's VIP removed");
}
