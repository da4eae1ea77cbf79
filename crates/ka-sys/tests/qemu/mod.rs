//! A qemu guest with a real IPVS kernel, for tests (the host kernel has no IPVS).
//!
//! Debian's kernel package is downloaded (never installed) into a cache under the
//! target directory by `prepare-kernel.sh`; `build-initramfs.sh` packs busybox, the IPVS
//! modules, ipvsadm, the test binary itself (debug info stripped) and any extra files;
//! qemu boots the uncompressed kernel under TCG, the guest's `/init` runs one test of
//! this same binary with `KA_QEMU_GUEST=1`, prints `KA-EXIT <status>` on the serial
//! port and powers off. Everything is bounded by a timeout; qemu is killed (by its
//! pid) when it runs over.
//!
//! Use: a `#[test]` that starts with `if qemu::in_guest() { return guest_body(); }` and
//! otherwise calls [`run_in_guest`] with its own name.
//!
//! Packages: qemu-system-x86, busybox-static, ipvsadm (and apt package lists for the
//! kernel download); a missing one fails the test with its name.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set inside the guest.
pub const GUEST_ENV: &str = "KA_QEMU_GUEST";

/// Whether this process runs inside the guest.
pub fn in_guest() -> bool {
    std::env::var_os(GUEST_ENV).is_some()
}

fn here() -> PathBuf {
    // Also right when another crate's tests include this file (`#[path]`).
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ka-sys/tests/qemu")
}

/// The kernel cache (under the target directory, shared by every test binary).
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("qemu-kernel")
}

fn need(prog: &str, package: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{prog} is missing: install the Debian package {package}"
    );
}

/// Downloads and unpacks the kernel once (serialised by a lock in the script).
pub fn prepare() -> PathBuf {
    need("qemu-system-x86_64", "qemu-system-x86");
    need("busybox", "busybox-static");
    need("ipvsadm", "ipvsadm");
    let cache = cache_dir();
    let out = Command::new("bash")
        .arg(here().join("prepare-kernel.sh"))
        .arg(&cache)
        .output()
        .expect("run prepare-kernel.sh");
    assert!(
        out.status.success(),
        "prepare-kernel.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    cache
}

/// What one guest boot printed.
#[derive(Debug)]
pub struct GuestRun {
    /// The serial console (kernel messages at loglevel 3 and the command's output).
    pub serial: String,
    /// The status after `KA-EXIT`, if the guest got that far.
    pub status: Option<i32>,
    /// Wall time of the boot.
    pub elapsed: Duration,
}

/// The guest's `/init`: mounts, modules, a dummy interface holding test addresses,
/// then `command`, then the status line and power-off.
pub fn init_script(command: &str) -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/shm /run /var/run /tmp; mount -t tmpfs tmpfs /tmp
ln -sf /bin/modprobe /sbin/modprobe
for m in crc32c_generic ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr \
         ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_fo ip_vs_ovf ip_vs_mh \
         ip_vs_pe_sip dummy ipip ip_gre fou veth; do
  modprobe $m 2>/dev/null || echo "ka-guest: modprobe $m failed"
done
ip link set lo up
ip link add ka0 type dummy && ip link set ka0 up
for a in 192.0.2.254/24 198.51.100.254/24 203.0.113.254/24; do ip addr add $a dev ka0; done
ip -6 addr add 2001:db8::fe/64 dev ka0
echo "ka-guest: ready"
( {command} )
echo "KA-EXIT $?"
poweroff -f
"#
    )
}

/// Boots a guest with `files` (host path, guest path) added and `/init` running `command`.
pub fn boot(files: &[(PathBuf, String)], command: &str, timeout: Duration) -> GuestRun {
    let cache = prepare();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "qemu-run-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _cleanup = RemoveDir(work.clone());
    std::fs::create_dir_all(&work).unwrap();
    let init = work.join("init");
    std::fs::write(&init, init_script(command)).unwrap();
    let cpio = work.join("initramfs.cpio");
    let mut cmd = Command::new("bash");
    cmd.arg(here().join("build-initramfs.sh"))
        .arg(&cache)
        .arg(&cpio)
        .arg(&init);
    for (h, g) in files {
        cmd.arg(format!("{}={g}", h.display()));
    }
    let out = cmd.output().expect("run build-initramfs.sh");
    assert!(
        out.status.success(),
        "build-initramfs.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let serial = work.join("serial.txt");
    let started = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-accel",
            "tcg",
        ])
        .args(["-m", "1024", "-smp", "1", "-nic", "none"])
        .arg("-kernel")
        .arg(cache.join("vmlinux"))
        .arg("-initrd")
        .arg(&cpio)
        .args(["-append", "console=ttyS0 quiet loglevel=3 panic=-1"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-system-x86_64");
    let mut timed_out = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
    let status = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("KA-EXIT "))
        .next_back()
        .and_then(|s| s.trim().parse().ok());
    if timed_out {
        eprintln!("qemu guest timed out after {timeout:?}");
    }
    GuestRun {
        serial: text,
        status,
        elapsed,
    }
}

static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct RemoveDir(PathBuf);
impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// This test binary with its debug information stripped (it is copied into RAM).
pub fn stripped_self() -> PathBuf {
    stripped_copy(&std::env::current_exe().unwrap())
}

/// A copy of executable `me` without its debug information, under the target directory.
pub fn stripped_copy(me: &Path) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-guest-{}-{}",
        me.file_name().unwrap().to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let st = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(me)
        .arg(&out)
        .status();
    if !st.map(|s| s.success()).unwrap_or(false) {
        std::fs::copy(me, &out).unwrap();
    }
    out
}

/// Boots a guest that runs the test `name` of this binary (with [`GUEST_ENV`] set) and
/// asserts it passed; returns the serial output. `files` are added to the guest.
pub fn run_in_guest(name: &str, files: &[(PathBuf, String)], timeout: Duration) -> String {
    let bin = stripped_self();
    let _rm = RemoveFile(bin.clone());
    let mut all = vec![(bin, "/ka-test".to_string())];
    all.extend(files.iter().cloned());
    let cmd = format!(
        "{GUEST_ENV}=1 RUST_BACKTRACE=1 /ka-test --exact {name} --nocapture --test-threads 1"
    );
    let run = boot(&all, &cmd, timeout);
    eprintln!("guest boot took {:?}", run.elapsed);
    assert_eq!(
        run.status,
        Some(0),
        "guest test {name} failed; serial console:\n{}",
        run.serial
    );
    assert!(
        run.serial.contains("test result: ok. 1 passed"),
        "guest ran no test named {name}; serial console:\n{}",
        run.serial
    );
    run.serial
}

/// Removes a file when dropped (also when a test panics).
pub struct RemoveFile(pub PathBuf);
impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a shell command (inside the guest) and returns its standard output; panics
/// with its error output when it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("/bin/sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
