//! Small builders of LVS configurations, for tests, examples and simulations.
//!
//! They fill in keepalived 2.2.7's defaults where a test does not care (weight 1, NAT,
//! `wlc`, `connect_timeout` 5 s, no warmup); the fields stay public for the rest.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ka_model::lvs::{
    CheckTiming, Checker, CheckerKind, Connection, HttpCheck, HttpProtocol, IpFamily, LvsConfig,
    MiscCheck, Protocol, RealServer, Script, StatusRange, Url, VirtualServer, VsAddress, Weight,
};

/// Timing with `delay_loop`, `retry`, `delay_before_retry` in seconds; no warmup,
/// `connect_timeout` 5 s, no alpha.
pub fn timing(delay_loop_s: u64, retry: u32, delay_before_retry_s: u64) -> CheckTiming {
    CheckTiming {
        delay_loop: Duration::from_secs(delay_loop_s),
        retry,
        delay_before_retry: Duration::from_secs(delay_before_retry_s),
        warmup: Duration::ZERO,
        connect_timeout: Duration::from_secs(5),
        alpha: false,
        log_all_failures: false,
    }
}

/// A connection to `ip:port` with no bind options.
pub fn connection(ip: IpAddr, port: Option<u16>) -> Connection {
    Connection {
        ip,
        port,
        bind_ip: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
    }
}

/// A checker; network kinds connect to `target`, MISC/FILE/BFD get no connection.
pub fn checker(kind: CheckerKind, timing: CheckTiming, target: (IpAddr, Option<u16>)) -> Checker {
    let network = !matches!(
        kind,
        CheckerKind::Misc(_) | CheckerKind::File(_) | CheckerKind::Bfd(_)
    );
    Checker {
        origin: Default::default(),
        timing,
        connection: network.then(|| connection(target.0, target.1)),
        kind,
    }
}

/// A URL with the default status codes (200-299), no digest, no regex.
pub fn url(path: &str) -> Url {
    Url {
        origin: Default::default(),
        path: path.into(),
        digest: None,
        status_codes: vec![StatusRange::SUCCESS],
        virtualhost: None,
        regex: None,
    }
}

/// HTTP_GET / SSL_GET parameters with HTTP/1.0 and these URLs.
pub fn http(urls: Vec<Url>) -> HttpCheck {
    HttpCheck {
        protocol: HttpProtocol::V1_0,
        fast_recovery: false,
        enable_sni: false,
        virtualhost: None,
        urls,
    }
}

/// A script command line run as the default user.
pub fn script(argv: &[&str]) -> Script {
    Script {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        user: None,
        group: None,
    }
}

/// MISC_CHECK parameters.
pub fn misc(argv: &[&str], timeout: Duration, dynamic: bool) -> MiscCheck {
    MiscCheck {
        script: script(argv),
        timeout,
        dynamic,
    }
}

/// A real server `addr:port` with weight 1 and these checkers.
pub fn real_server(addr: IpAddr, port: u16, checkers: Vec<Checker>) -> RealServer {
    RealServer {
        origin: Default::default(),
        addr,
        port: Some(port),
        weight: Weight::DEFAULT,
        forwarding: Default::default(),
        upper_threshold: 0,
        lower_threshold: 0,
        inhibit_on_failure: false,
        notify_up: None,
        notify_down: None,
        smtp_alert: None,
        virtualhost: None,
        snmp_name: None,
        timing: timing(60, 1, 1),
        checkers,
    }
}

/// A TCP virtual server `addr:port` with these real servers.
pub fn virtual_server(addr: IpAddr, port: u16, real_servers: Vec<RealServer>) -> VirtualServer {
    VirtualServer {
        origin: Default::default(),
        address: VsAddress::Ip {
            addr,
            port: Some(port),
        },
        family: IpFamily::of(&addr),
        protocol: Some(Protocol::Tcp),
        scheduler: Default::default(),
        flags: Default::default(),
        forwarding: Default::default(),
        persistence: None,
        ha_suspend: false,
        smtp_alert: None,
        virtualhost: None,
        snmp_name: None,
        alpha: false,
        omega: false,
        quorum: NonZeroU32::MIN,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        weight: Weight::DEFAULT,
        inhibit_on_failure: false,
        timing: timing(60, 1, 1),
        sorry_server: None,
        real_servers,
    }
}

/// An LVS configuration with these virtual servers.
pub fn lvs(virtual_servers: Vec<VirtualServer>) -> LvsConfig {
    LvsConfig {
        groups: Vec::new(),
        virtual_servers,
        ssl: None,
    }
}
