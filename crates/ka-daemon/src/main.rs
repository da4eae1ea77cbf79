//! `keepalived-rs`: keepalived's command line, plus subcommands keepalived lacks.
fn main() {
    eprintln!("keepalived-rs: not built yet");
    std::process::exit(2);
}
