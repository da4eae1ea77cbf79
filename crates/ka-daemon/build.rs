//! Links `keepalived-rs` with packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR) where the linker and the C library support them.
//!
//! The binary is position-independent; without DT_RELR its ~25000 relative relocations
//! take 24 bytes each (a 600 KB `.rela.dyn` that the loader reads at every start, which
//! `keepalived-rs -t` and the daemon then carry in their resident memory). Packed, they
//! take ~8 KB. It needs binutils 2.38 and glibc 2.36 (Debian 12); elsewhere the binary is
//! linked as before. The probe links and runs a small C program whose pointer table needs
//! relocating: the flag is used only when that program runs and reads its table right.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && native {
        if relr_works() {
            println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        } else {
            println!("cargo:warning=linking without packed relocations (needs binutils 2.38 and glibc 2.36)");
        }
    }
}

fn relr_works() -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let src = out.join("relr_probe.c");
    let bin = out.join("relr_probe");
    let prog = "static const char *t[] = {\"keep\", \"alived\"};\n\
                int main(void) { volatile int i = 1; return t[i][0] == 'a' ? 0 : 1; }\n";
    if std::fs::write(&src, prog).is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let linked = Command::new(cc)
        .args(["-O0", "-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        // An older ld only warns about an unknown -z keyword: any message means no.
        .map(|o| o.status.success() && o.stderr.is_empty())
        .unwrap_or(false);
    linked
        && Command::new(&bin)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}
