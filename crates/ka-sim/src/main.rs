//! Seeded deterministic VRRP simulator (see docs/ARCHITECTURE.md).
fn main() {
    eprintln!("ka-sim: not built yet");
    std::process::exit(2);
}
