//! `keepalived-rs sniff -r FILE.pcap [--json]`: a VRRP-aware reading of a capture.
//!
//! A thin formatter over `ka_wire` (pcap reader, frame classification, VRRP decoding
//! and checksum verification live and are tested there). One line per frame of interest:
//!
//! - VRRP (IPv4/IPv6, v2/v3, also behind keepalived's AH):
//!   `0.000000 2026-11-22T03:32:01.037049Z 192.0.2.11 > 224.0.0.18 VRRPv2 vrid 51 prio 150
//!   intvl 1.00s auth pass "s3cret" addrs 192.0.2.1 ttl 255 cksum ok`
//! - gratuitous ARP and other ARP, and IPv6 neighbour advertisements, as short lines
//!   (`ARP ...`, `NA ...`) because they show when a new master announced its VIPs;
//! - frames of an IP/ARP type that fail to parse, and VRRP messages that fail to
//!   decode, as `malformed ...` lines (these are what a sniffer is for);
//! - everything else is skipped.
//!
//! Times: seconds since the first record of the file (microseconds), then the absolute
//! UTC time.
//!
//! `keepalived-rs sniff -i IFACE [-c COUNT] [--json]` prints the same lines live, from an
//! AF_PACKET socket on the interface (every protocol, both directions: IPv4 and IPv6
//! adverts, ARP and NA), until Ctrl-C / SIGTERM or COUNT VRRP packets; times are the
//! moment each frame was read, relative to the first one printed. With `json`, each line is one JSON object with a `"type"` of `"vrrp"`,
//! `"arp"`, `"na"` or `"malformed"`.

use std::io::Write;
use std::net::IpAddr;

use ka_wire::ethernet::mac_to_string;
use ka_wire::frame::{classify, Frame};
use ka_wire::pcap::{LinkType, Pcap, Record};
use ka_wire::vrrp::{Auth, Version, VrrpPacket};
use serde_json::{json, Value};

/// Prints the VRRP packets (and ARP/NA announcements) of a pcap file held in `bytes`.
/// Returns the number of VRRP packets printed. Fails on a file that is not a classic
/// pcap, an unsupported link type, a record cut short (after printing the records
/// before it), or a write error.
pub fn sniff_pcap(bytes: &[u8], json: bool, out: &mut dyn Write) -> Result<usize, String> {
    let pcap = Pcap::parse(bytes).map_err(|e| e.to_string())?;
    let mut first_us: Option<u64> = None;
    let mut vrrp_count = 0;
    for rec in pcap.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let t0 = *first_us.get_or_insert(rec.micros());
        let time = Time::new(&rec, t0);
        let Some((line, is_vrrp)) = frame_line(pcap.link_type, rec.data, &time, rec.index, json)?
        else {
            continue;
        };
        vrrp_count += usize::from(is_vrrp);
        writeln!(out, "{line}").map_err(|e| format!("write: {e}"))?;
    }
    Ok(vrrp_count)
}

/// The line printed for one frame (`None`: not of interest) and whether it is a decoded
/// VRRP advert. Fails only on a frame too short for its link type.
fn frame_line(
    link_type: LinkType,
    data: &[u8],
    time: &Time,
    index: usize,
    json: bool,
) -> Result<Option<(String, bool)>, String> {
    let classified = classify(link_type, data).map_err(|e| format!("frame {}: {e}", index + 1))?;
    let mut is_vrrp = false;
    let line = match classified.frame {
        Frame::Vrrp(ip) => match ip.decode() {
            Ok(p) => {
                is_vrrp = true;
                let v = VrrpLine {
                    src: ip.src,
                    dst: ip.dst,
                    ttl: ip.ttl,
                    checksum_ok: ip.checksum_ok(),
                    ah: ip.ah.is_some(),
                    p: &p,
                };
                if json {
                    v.json(time, index)
                } else {
                    v.text(time)
                }
            }
            Err(e) => malformed(
                json,
                time,
                index,
                &format!("vrrp {} > {}: {e}", ip.src, ip.dst),
            ),
        },
        Frame::Arp(a) => {
            let what = if a.is_gratuitous() { "gratuitous" } else { "" };
            let verb = match a.op {
                1 => "who-has".to_string(),
                2 => "reply".to_string(),
                op => format!("op {op}"),
            };
            if json {
                json!({
                    "type": "arp",
                    "frame": index + 1,
                    "time_rel": time.rel_secs(),
                    "time": time.abs,
                    "op": a.op,
                    "sha": mac_to_string(&a.sha),
                    "spa": a.spa.to_string(),
                    "tha": mac_to_string(&a.tha),
                    "tpa": a.tpa.to_string(),
                    "gratuitous": a.is_gratuitous(),
                })
                .to_string()
            } else {
                format!(
                    "{} ARP {verb} {} tell {} ({}) {what}",
                    time.prefix(),
                    a.tpa,
                    a.spa,
                    mac_to_string(&a.sha)
                )
                .trim_end()
                .to_string()
            }
        }
        Frame::NeighborAdvert(na) => {
            let mut flags = String::new();
            for (set, c) in [
                (na.router, 'R'),
                (na.solicited, 'S'),
                (na.override_flag, 'O'),
            ] {
                if set {
                    flags.push(c);
                }
            }
            let lla = na.target_lla.map(|m| mac_to_string(&m));
            if json {
                json!({
                    "type": "na",
                    "frame": index + 1,
                    "time_rel": time.rel_secs(),
                    "time": time.abs,
                    "src": na.src.to_string(),
                    "dst": na.dst.to_string(),
                    "target": na.target.to_string(),
                    "flags": flags,
                    "lladdr": lla,
                    "checksum_ok": na.checksum_ok(),
                })
                .to_string()
            } else {
                format!(
                    "{} {} > {} NA tgt {} [{flags}] lladdr {} cksum {}",
                    time.prefix(),
                    na.src,
                    na.dst,
                    na.target,
                    lla.as_deref().unwrap_or("-"),
                    ok_bad(na.checksum_ok())
                )
            }
        }
        Frame::Malformed { ethertype, error } => malformed(
            json,
            time,
            index,
            &format!("ethertype {ethertype:#06x}: {error}"),
        ),
        Frame::Other { .. } => return Ok(None),
    };
    Ok(Some((line, is_vrrp)))
}

/// `sniff -i IFACE`: 0 after Ctrl-C / SIGTERM / COUNT packets, 1 when the capture
/// fails, 2 when it cannot start (no such interface, not root).
pub fn live_cmd(ifname: &str, json: bool, count: Option<u64>) -> std::process::ExitCode {
    use std::process::ExitCode;
    let ifindex = match ka_sys::error::ifindex(ifname) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("keepalived-rs: interface {ifname}: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keepalived-rs: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match rt.block_on(sniff_live(ifindex, json, count, &mut out)) {
        Ok(_) => ExitCode::SUCCESS,
        Err((_, e)) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err((code, e)) => {
            eprintln!("keepalived-rs: {ifname}: {e}");
            ExitCode::from(code)
        }
    }
}

/// Captures on `ifindex` and prints a line per frame of interest; returns the number of
/// VRRP packets printed. Errors carry the exit status (2: cannot open, 1: later).
async fn sniff_live(
    ifindex: u32,
    json: bool,
    count: Option<u64>,
    out: &mut dyn Write,
) -> Result<u64, (u8, String)> {
    use tokio::signal::unix::{signal, SignalKind};
    let sock = ka_sys::PacketSocket::open_capture(ifindex, ka_sys::packet::ETH_P_ALL)
        .map_err(|e| (2, format!("cannot capture (root needed): {e}")))?;
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        _ => return Err((2, "cannot install signal handlers".into())),
    };
    let mut t0: Option<u64> = None;
    let mut vrrp = 0u64;
    let mut index = 0usize;
    while count.is_none_or(|c| vrrp < c) {
        let frame = tokio::select! {
            f = sock.recv() => f.map_err(|e| (1, e.to_string()))?,
            _ = int.recv() => break,
            _ = term.recv() => break,
        };
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let time = Time::live(*t0.get_or_insert(now_us), now_us);
        // A frame too short for Ethernet is skipped, as `-r` skips nothing it can read.
        if let Ok(Some((line, is_vrrp))) =
            frame_line(LinkType::Ethernet, &frame.data, &time, index, json)
        {
            writeln!(out, "{line}").map_err(|e| (1, format!("write: {e}")))?;
            vrrp += u64::from(is_vrrp);
        }
        index += 1;
    }
    Ok(vrrp)
}

fn ok_bad(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "bad"
    }
}

fn malformed(json: bool, time: &Time, index: usize, what: &str) -> String {
    if json {
        json!({
            "type": "malformed",
            "frame": index + 1,
            "time_rel": time.rel_secs(),
            "time": time.abs,
            "error": what,
        })
        .to_string()
    } else {
        format!("{} malformed {what}", time.prefix())
    }
}

/// The two times printed for a record.
struct Time {
    /// Microseconds since the first record.
    rel_us: u64,
    /// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`.
    abs: String,
}

impl Time {
    fn live(t0_us: u64, now_us: u64) -> Self {
        Time {
            rel_us: now_us.saturating_sub(t0_us),
            abs: utc(
                u32::try_from(now_us / 1_000_000).unwrap_or(u32::MAX),
                u32::try_from(now_us % 1_000_000).unwrap_or(0),
            ),
        }
    }

    fn new(rec: &Record<'_>, t0_us: u64) -> Self {
        Time {
            rel_us: rec.micros().saturating_sub(t0_us),
            abs: utc(rec.ts_sec, rec.ts_nsec / 1000),
        }
    }

    fn rel(&self) -> String {
        format!("{}.{:06}", self.rel_us / 1_000_000, self.rel_us % 1_000_000)
    }

    /// Seconds as a JSON number (microsecond resolution survives an f64 for any capture
    /// shorter than a century).
    fn rel_secs(&self) -> Value {
        // Integer seconds and microseconds go through the decimal string, so the value
        // printed is exactly the one in the text form.
        self.rel().parse::<f64>().map_or(Value::Null, Value::from)
    }

    fn prefix(&self) -> String {
        format!("{} {}", self.rel(), self.abs)
    }
}

/// Formats seconds since the epoch as UTC (proleptic Gregorian calendar; days-to-date
/// conversion after Howard Hinnant's `civil_from_days`).
pub(crate) fn utc(secs: u32, micros: u32) -> String {
    let days = i64::from(secs / 86_400);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One decoded advert with what the line needs from the IP layer.
struct VrrpLine<'a> {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    checksum_ok: bool,
    ah: bool,
    p: &'a VrrpPacket,
}

impl VrrpLine<'_> {
    /// `1.00s`, `0.10s`, `0.01s`: v2 carries whole seconds, v3 centiseconds; both are
    /// held in centiseconds by `ka_wire`.
    fn interval(&self) -> String {
        let cs = self.p.adver_int_cs;
        format!("{}.{:02}s", cs / 100, cs % 100)
    }

    fn auth_text(&self) -> String {
        match &self.p.auth {
            Auth::None => "none".into(),
            Auth::SimplePassword(_) => {
                let pw = self.p.auth.password_bytes().unwrap_or_default();
                format!("pass {:?}", String::from_utf8_lossy(pw))
            }
            Auth::Ah(_) => "ah".into(),
            Auth::Unknown { kind, .. } => format!("type {kind}"),
        }
    }

    fn addrs(&self) -> Vec<String> {
        self.p.addrs.iter().map(ToString::to_string).collect()
    }

    fn version(&self) -> u8 {
        match self.p.version {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    fn text(&self, time: &Time) -> String {
        let mut s = format!(
            "{} {} > {} VRRPv{} vrid {} prio {} intvl {} auth {} addrs {}",
            time.prefix(),
            self.src,
            self.dst,
            self.version(),
            self.p.vrid,
            self.p.priority,
            self.interval(),
            self.auth_text(),
            self.addrs().join(",")
        );
        if self.p.kind != ka_wire::vrrp::TYPE_ADVERTISEMENT {
            s.push_str(&format!(" type {}", self.p.kind));
        }
        if self.ah && self.p.auth.kind() != 2 {
            s.push_str(" (in ah)");
        }
        s.push_str(&format!(
            " ttl {} cksum {}",
            self.ttl,
            ok_bad(self.checksum_ok)
        ));
        s
    }

    fn json(&self, time: &Time, index: usize) -> String {
        let (auth, password) = match &self.p.auth {
            Auth::None => ("none".to_string(), None),
            Auth::SimplePassword(_) => (
                "pass".to_string(),
                Some(
                    String::from_utf8_lossy(self.p.auth.password_bytes().unwrap_or_default())
                        .into_owned(),
                ),
            ),
            Auth::Ah(_) => ("ah".to_string(), None),
            Auth::Unknown { kind, .. } => (format!("type {kind}"), None),
        };
        json!({
            "type": "vrrp",
            "frame": index + 1,
            "time_rel": time.rel_secs(),
            "time": time.abs,
            "src": self.src.to_string(),
            "dst": self.dst.to_string(),
            "ttl": self.ttl,
            "version": self.version(),
            "kind": self.p.kind,
            "vrid": self.p.vrid,
            "priority": self.p.priority,
            "adver_int_cs": self.p.adver_int_cs,
            "interval": self.interval(),
            "auth": auth,
            "password": password,
            "ah": self.ah,
            "addrs": self.addrs(),
            "checksum": format!("{:#06x}", self.p.checksum),
            "checksum_ok": self.checksum_ok,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_wire::arp::garp_frame;
    use ka_wire::ethernet::{EthernetHeader, ETHERTYPE_IPV4};
    use ka_wire::ip::keepalived_ipv4;
    use ka_wire::nd::una_frame;
    use std::net::Ipv4Addr;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/interop");

    /// A little-endian microsecond pcap of Ethernet frames.
    fn pcap(frames: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (s, us, d) in frames {
            let len = u32::try_from(d.len()).unwrap();
            for v in [*s, *us, len, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(d);
        }
        out
    }

    fn advert_frame(prio: u8, pass: Option<&[u8]>, corrupt: bool) -> Vec<u8> {
        let src = Ipv4Addr::new(192, 0, 2, 11);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let p = VrrpPacket {
            version: Version::V2,
            kind: 1,
            vrid: 51,
            priority: prio,
            adver_int_cs: 100,
            reserved: 0,
            checksum: 0,
            addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))],
            auth: pass.map_or(Auth::None, Auth::password),
        };
        let mut vrrp = p.encode_for_send(src.into(), dst.into()).unwrap();
        if corrupt {
            vrrp[7] ^= 0xff;
        }
        let mut f = Vec::new();
        EthernetHeader {
            dst: [1, 0, 0x5e, 0, 0, 0x12],
            src: [2, 0, 0, 0, 0, 0x0b],
            vlan_tci: None,
            ethertype: ETHERTYPE_IPV4,
        }
        .encode_into(&mut f);
        f.extend_from_slice(&keepalived_ipv4(src, dst, 1, &vrrp).unwrap());
        f
    }

    fn run(bytes: &[u8], json: bool) -> (Result<usize, String>, Vec<String>) {
        let mut out = Vec::new();
        let r = sniff_pcap(bytes, json, &mut out);
        let text = String::from_utf8(out).unwrap();
        (r, text.lines().map(str::to_string).collect())
    }

    #[test]
    fn text_lines() {
        let mac = [2, 0, 0, 0, 0, 0x0b];
        let file = pcap(&[
            (
                1_795_145_521,
                37_049,
                advert_frame(150, Some(b"s3cret"), false),
            ),
            (
                1_795_145_521,
                37_167,
                garp_frame(mac, Ipv4Addr::new(192, 0, 2, 1)),
            ),
            (
                1_795_145_521,
                40_000,
                una_frame(mac, "2001:db8:0:1::1".parse().unwrap()),
            ),
            (1_795_145_522, 37_050, advert_frame(0, None, true)),
            (1_795_145_523, 0, vec![0xff; 20]),
        ]);
        let (r, lines) = run(&file, false);
        assert_eq!(r, Ok(2));
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(
            lines[0],
            "0.000000 2026-11-20T03:32:01.037049Z 192.0.2.11 > 224.0.0.18 VRRPv2 vrid 51 prio 150 \
             intvl 1.00s auth pass \"s3cret\" addrs 192.0.2.1 ttl 255 cksum ok"
        );
        assert_eq!(
            lines[1],
            "0.000118 2026-11-20T03:32:01.037167Z ARP who-has 192.0.2.1 tell 192.0.2.1 (02:00:00:00:00:0b) gratuitous"
        );
        assert!(lines[2].starts_with("0.002951 "), "{}", lines[2]);
        assert!(
            lines[2].ends_with("2001:db8:0:1::1 > ff02::1 NA tgt 2001:db8:0:1::1 [O] lladdr 02:00:00:00:00:0b cksum ok"),
            "{}",
            lines[2]
        );
        assert!(lines[3].starts_with("1.000001 "), "{}", lines[3]);
        assert!(
            lines[3].contains("prio 0 intvl 1.00s auth none"),
            "{}",
            lines[3]
        );
        assert!(lines[3].ends_with("cksum bad"), "{}", lines[3]);
    }

    #[test]
    fn json_lines() {
        let file = pcap(&[(100, 5, advert_frame(150, Some(b"s3cret"), false))]);
        let (r, lines) = run(&file, true);
        assert_eq!(r, Ok(1));
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["type"], "vrrp");
        assert_eq!(v["version"], 2);
        assert_eq!(v["vrid"], 51);
        assert_eq!(v["priority"], 150);
        assert_eq!(v["interval"], "1.00s");
        assert_eq!(v["adver_int_cs"], 100);
        assert_eq!(v["auth"], "pass");
        assert_eq!(v["password"], "s3cret");
        assert_eq!(v["addrs"], json!(["192.0.2.1"]));
        assert_eq!(v["checksum_ok"], true);
        assert_eq!(v["time"], "1970-01-01T00:01:40.000005Z");
        assert_eq!(v["time_rel"], 0.0);
    }

    #[test]
    fn errors() {
        assert!(run(b"not a pcap at all, no sir", false).0.is_err());
        let mut file = pcap(&[
            (1, 0, advert_frame(150, None, false)),
            (2, 0, advert_frame(100, None, false)),
        ]);
        file.truncate(file.len() - 3);
        let (r, lines) = run(&file, false);
        assert!(r.unwrap_err().contains("truncated"));
        assert_eq!(lines.len(), 1, "the complete record is still printed");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(utc(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(utc(u32::MAX, 999_999), "2106-02-07T06:28:15.999999Z");
    }

    /// The real captures: every file prints one VRRP line per advert, all checksums ok,
    /// and the intervals of the v3 fast-advert files.
    #[test]
    fn interop_captures() {
        let read = |f: &str| std::fs::read(format!("{DATA}/{f}")).unwrap();
        let (r, lines) = run(&read("v2_mcast_authpass.pcap"), false);
        assert_eq!(r, Ok(10));
        let vrrp: Vec<&String> = lines.iter().filter(|l| l.contains(" VRRPv")).collect();
        assert_eq!(vrrp.len(), 10);
        assert!(vrrp
            .iter()
            .all(|l| l.ends_with("cksum ok") && l.contains("auth pass \"s3cret\"")));
        assert!(
            vrrp[0].contains("192.0.2.11 > 224.0.0.18 VRRPv2 vrid 51 prio 150 intvl 1.00s"),
            "{}",
            vrrp[0]
        );
        assert!(lines
            .iter()
            .any(|l| l.contains(" ARP who-has 192.0.2.1 tell 192.0.2.1")));
        let (_, lines) = run(&read("v3_mcast_ipv4_adv0.01.pcap"), false);
        assert!(lines
            .iter()
            .any(|l| l.contains("VRRPv3 vrid 51 prio 150 intvl 0.01s auth none")));
        let (_, lines) = run(&read("v2_mcast_ah.pcap"), true);
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (first["auth"].as_str(), first["ah"].as_bool()),
            (Some("ah"), Some(true))
        );
        for f in std::fs::read_dir(DATA).unwrap() {
            let path = f.unwrap().path();
            if path.extension().is_some_and(|e| e == "pcap") {
                let (r, lines) = run(&std::fs::read(&path).unwrap(), true);
                assert!(r.unwrap() > 0, "{}", path.display());
                for l in lines {
                    let v: Value = serde_json::from_str(&l).unwrap();
                    assert_ne!(v["type"], "malformed", "{}: {l}", path.display());
                    if v["type"] == "vrrp" {
                        assert_eq!(v["checksum_ok"], true, "{}: {l}", path.display());
                    }
                }
            }
        }
    }
}
