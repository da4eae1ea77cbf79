//! `keepalived-rs`: keepalived's command line, plus subcommands keepalived lacks.
//!
//! Without a subcommand the flags are keepalived's (`-f -P -C -n -l -D -S -t -i ...`).
//! Exit status of `-t` and `check`: 0 when the configuration has no error (warnings
//! allowed), 1 when it has at least one error, 2 when the check could not run
//! (bad usage, unreadable top-level file).

mod alert;
mod check;
mod check_cmd;
mod config_test_args;
mod daemon;
mod demo;
mod genhash;
mod logging;
mod packaging;
mod realserver;
mod script;
mod sdnotify;
mod sniff;
mod wallclock;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// keepalived's default configuration file.
const DEFAULT_CONF: &str = "/etc/keepalived/keepalived.conf";

#[derive(Debug, Parser)]
#[command(
    name = "keepalived-rs",
    version,
    about = "keepalived, rebuilt in Rust: VRRP failover and LVS load balancing",
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    ka: KeepalivedArgs,
}

/// keepalived(8)'s options.
#[derive(Debug, clap::Args)]
struct KeepalivedArgs {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    use_file: Option<PathBuf>,
    /// Display the version number (keepalived's -v).
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// Only run the VRRP subsystem.
    #[arg(short = 'P', long = "vrrp")]
    vrrp: bool,
    /// Only run the health-checker subsystem.
    #[arg(short = 'C', long = "check")]
    check: bool,
    /// Don't run the BFD subsystem.
    #[arg(short = 'B', long = "no_bfd")]
    no_bfd: bool,
    /// Log messages to the console.
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    log_detail: bool,
    /// Syslog facility: 0-7 (local0-7), local0-7, user or daemon (default daemon). Syslog
    /// goes to /dev/log, or to the socket named by $KEEPALIVED_RS_SYSLOG_SOCKET.
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY")]
    log_facility: Option<String>,
    /// Don't log via syslog.
    #[arg(short = 'G', long = "no-syslog")]
    no_syslog: bool,
    /// Don't fork the daemon process.
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Dump the configuration data.
    #[arg(short = 'd', long = "dump-conf")]
    dump_conf: bool,
    /// Pid file of the parent process.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pid: Option<PathBuf>,
    /// Pid file of the VRRP process.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    vrrp_pid: Option<PathBuf>,
    /// Pid file of the checker process.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    checkers_pid: Option<PathBuf>,
    /// Don't remove VRRP VIPs and routes on stop.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    dont_release_vrrp: bool,
    /// Don't remove the IPVS topology on stop.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    dont_release_ipvs: bool,
    /// Run in network namespace NAME.
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    namespace: Option<String>,
    /// Data plane of the virtual servers: auto (IPVS if the kernel has it), nftables, ipvs.
    #[arg(long = "lb-backend", value_name = "BACKEND", default_value = "auto")]
    lb_backend: daemon::lvs::BackendKind,
    /// Error if any configuration file is missing.
    #[arg(short = 'e', long = "all-config")]
    all_config: bool,
    /// Configuration id for `@id` lines (default: host name up to the first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Check the configuration and exit; diagnostics go to stderr, or to LOG_FILE.
    #[arg(
        short = 't',
        long = "config-test",
        value_name = "LOG_FILE",
        num_args = 0..=1,
        require_equals = true
    )]
    config_test: Option<Option<PathBuf>>,
    /// Print the number of the signal for SIGFUNC (STOP, RELOAD, DATA, STATS, JSON) and exit.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    signum: Option<String>,
    /// The control socket (`status`, `reload`).
    #[arg(long = "control-socket", value_name = "PATH", default_value = daemon::control::DEFAULT_PATH)]
    control_socket: PathBuf,
    /// Serve Prometheus metrics (/metrics) and the status JSON (/status) over HTTP on
    /// ADDR:PORT (off by default; overrides global_defs `metrics_listen`).
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Check a configuration file and print diagnostics (file:line:col).
    Check(CheckArgs),
    /// Decode VRRP packets from a capture file or a live interface.
    Sniff(SniffArgs),
    /// Print the MD5 digest of a page, for HTTP_GET/SSL_GET `digest` (keepalived's genhash).
    Genhash(genhash::Args),
    /// Two-node failover demo in network namespaces (needs root); removes all it made.
    Demo(demo::Args),
    /// Show the running daemon's instances (over the control socket).
    Status(StatusArgs),
    /// Make the running daemon reload its configuration, as SIGHUP does.
    Reload(ReloadArgs),
    /// Prepare this host as an LVS DR or TUN back end, undo it, or check it.
    #[command(subcommand)]
    Realserver(realserver::Cmd),
    /// Print the manual page (roff), or write every page into a directory.
    Man(packaging::ManArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(packaging::CompletionsArgs),
    /// Install the sample configuration as /etc/keepalived-rs/keepalived.conf.
    InstallSample(packaging::InstallSampleArgs),
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Print the daemon's JSON (shape documented in the daemon's status module).
    #[arg(long)]
    json: bool,
    /// The daemon's control socket.
    #[arg(long = "control-socket", value_name = "PATH", default_value = daemon::control::DEFAULT_PATH)]
    control_socket: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ReloadArgs {
    /// The daemon's control socket.
    #[arg(long = "control-socket", value_name = "PATH", default_value = daemon::control::DEFAULT_PATH)]
    control_socket: PathBuf,
}

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// `human` on a terminal, `plain` otherwise.
    Auto,
    /// One finding per line: `FILE:LINE:COL: error|warning: MESSAGE`.
    Plain,
    /// rustc-style snippets.
    Human,
    /// A JSON array of findings.
    Json,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The configuration file (also accepted as -f FILE).
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// The configuration file.
    #[arg(
        short = 'f',
        long = "use-file",
        value_name = "FILE",
        conflicts_with = "file"
    )]
    use_file: Option<PathBuf>,
    /// Configuration id for `@id` lines (default: host name up to the first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Diagnostics format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Print the resolved configuration model as JSON on stdout (durations in seconds).
    #[arg(long)]
    dump: bool,
    /// Don't check that interfaces exist on this host.
    #[arg(long)]
    no_host_checks: bool,
}

#[derive(Debug, clap::Args)]
struct SniffArgs {
    /// Read packets from a pcap file.
    #[arg(
        short = 'r',
        value_name = "FILE.pcap",
        required_unless_present = "interface",
        conflicts_with = "interface"
    )]
    read: Option<PathBuf>,
    /// Capture live on an interface (AF_PACKET; root) until Ctrl-C or -c.
    #[arg(short = 'i', value_name = "IFACE")]
    interface: Option<String>,
    /// Stop after this many VRRP packets (live capture).
    #[arg(short = 'c', value_name = "COUNT")]
    count: Option<u64>,
    /// One JSON object per packet.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `-t -f FILE` and its plain variants skip building clap's command (see the module).
    if let Some(req) = config_test_args::parse(&args) {
        ka_sys::process::default_sigpipe();
        return check_cmd::run(&req);
    }
    let cli = Cli::parse_from(args);
    // One-shot commands die quietly on a closed pipe (`| head`); the daemon ignores SIGPIPE.
    let one_shot = match &cli.cmd {
        Some(Cmd::Demo(_)) => false,
        Some(_) => true,
        None => cli.ka.version || cli.ka.signum.is_some() || cli.ka.config_test.is_some(),
    };
    if one_shot {
        ka_sys::process::default_sigpipe();
    }
    match cli.cmd {
        Some(Cmd::Check(a)) => {
            let file = a
                .file
                .or(a.use_file)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF));
            check_cmd::run(&check_cmd::Request {
                file,
                config_id: a.config_id,
                format: a.format,
                dump: a.dump,
                host_checks: !a.no_host_checks,
                log_file: None,
            })
        }
        Some(Cmd::Sniff(a)) => sniff_cmd(&a),
        Some(Cmd::Genhash(a)) => genhash::run(&a),
        Some(Cmd::Demo(a)) => demo::run(&a),
        Some(Cmd::Status(a)) => daemon::control::status_cmd(&a.control_socket, a.json),
        Some(Cmd::Reload(a)) => daemon::control::reload_cmd(&a.control_socket),
        Some(Cmd::Realserver(c)) => realserver::run(&c),
        Some(Cmd::Man(a)) => packaging::man(<Cli as clap::CommandFactory>::command(), &a),
        Some(Cmd::Completions(a)) => {
            packaging::completions(<Cli as clap::CommandFactory>::command(), &a)
        }
        Some(Cmd::InstallSample(a)) => packaging::install_sample(&a),
        None => {
            let ka = cli.ka;
            if ka.version {
                println!("keepalived-rs {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            if let Some(f) = &ka.signum {
                return match signum(f) {
                    Some(n) => {
                        println!("{n}");
                        ExitCode::SUCCESS
                    }
                    None => {
                        eprintln!("Unknown sigfunc {f}");
                        ExitCode::from(1)
                    }
                };
            }
            let file = ka
                .use_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF));
            if let Some(log_file) = ka.config_test {
                return check_cmd::run(&config_test_args::request(
                    Some(file),
                    ka.config_id,
                    log_file,
                ));
            }
            daemon::run(&daemon::Options {
                file,
                config_id: ka.config_id,
                pid_file: ka.pid,
                vrrp_pid_file: ka.vrrp_pid,
                log: logging::Options {
                    console: ka.log_console,
                    detail: ka.log_detail,
                    facility: ka.log_facility.clone(),
                    no_syslog: ka.no_syslog,
                },
                dont_release_vrrp: ka.dont_release_vrrp,
                namespace: ka.namespace,
                vrrp_only: ka.vrrp,
                check_only: ka.check,
                control_socket: ka.control_socket,
                lb_backend: ka.lb_backend,
                metrics_listen: ka.metrics_listen,
            })
        }
    }
}

/// keepalived's `--signum=SIGFUNC`: the signal that asks for SIGFUNC (those this daemon
/// handles; keepalived's STATS_CLEAR and TDATA are not).
fn signum(func: &str) -> Option<i32> {
    Some(match func {
        "STOP" => 15,
        "RELOAD" => 1,
        "DATA" => 10,
        "STATS" => 12,
        "JSON" => daemon::dump::SIGJSON,
        _ => return None,
    })
}

fn sniff_cmd(a: &SniffArgs) -> ExitCode {
    let read = match (&a.read, &a.interface) {
        (_, Some(ifname)) => return sniff::live_cmd(ifname, a.json, a.count),
        (Some(_), None) if a.count.is_some() => {
            eprintln!("keepalived-rs: -c COUNT is for live capture (-i IFACE)");
            return ExitCode::from(2);
        }
        (Some(r), None) => r,
        (None, None) => {
            eprintln!("keepalived-rs: sniff needs -r FILE or -i IFACE");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(read) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("keepalived-rs: cannot read {}: {e}", read.display());
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match sniff::sniff_pcap(&bytes, a.json, &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        // `sniff ... | head` closes the pipe early: not an error.
        Err(e) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keepalived-rs: {}: {e}", read.display());
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::Path;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keepalived_flags_parse() {
        let c = Cli::try_parse_from([
            "keepalived-rs",
            "-t",
            "-f",
            "x.conf",
            "-i",
            "lb1",
            "-n",
            "-l",
            "-D",
        ])
        .unwrap();
        assert!(c.cmd.is_none());
        assert_eq!(c.ka.config_test, Some(None));
        assert_eq!(c.ka.config_id.as_deref(), Some("lb1"));
        let c = Cli::try_parse_from(["keepalived-rs", "--config-test=/tmp/log", "-f", "x.conf"])
            .unwrap();
        assert_eq!(c.ka.config_test, Some(Some(PathBuf::from("/tmp/log"))));
        let c = Cli::try_parse_from(["keepalived-rs", "check", "--dump", "-f", "a.conf"]).unwrap();
        assert!(matches!(
            c.cmd,
            Some(Cmd::Check(CheckArgs { dump: true, .. }))
        ));
    }

    #[test]
    fn operator_commands_parse() {
        let c = Cli::try_parse_from(["keepalived-rs", "status", "--json"]).unwrap();
        match c.cmd {
            Some(Cmd::Status(a)) => {
                assert!(a.json);
                assert_eq!(
                    a.control_socket,
                    PathBuf::from(daemon::control::DEFAULT_PATH)
                );
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["keepalived-rs", "reload", "--control-socket", "/x.sock"])
            .unwrap();
        assert!(
            matches!(c.cmd, Some(Cmd::Reload(ReloadArgs { control_socket })) if control_socket == Path::new("/x.sock"))
        );
        let c = Cli::try_parse_from(["keepalived-rs", "-n", "--control-socket=/y.sock"]).unwrap();
        assert_eq!(c.ka.control_socket, PathBuf::from("/y.sock"));
        let c = Cli::try_parse_from(["keepalived-rs", "sniff", "-i", "eth0", "-c", "3"]).unwrap();
        assert!(matches!(
            c.cmd,
            Some(Cmd::Sniff(SniffArgs {
                count: Some(3),
                read: None,
                ..
            }))
        ));
        assert!(Cli::try_parse_from(["keepalived-rs", "sniff"]).is_err());
        let c = Cli::try_parse_from(["keepalived-rs", "--signum=DATA"]).unwrap();
        assert_eq!(c.ka.signum.as_deref().and_then(signum), Some(10));
        // keepalived 2.2.7's numbers.
        assert_eq!(
            ["STOP", "RELOAD", "DATA", "STATS", "JSON"].map(signum),
            [Some(15), Some(1), Some(10), Some(12), Some(36)]
        );
        assert_eq!(signum("TDATA"), None);
    }
}
