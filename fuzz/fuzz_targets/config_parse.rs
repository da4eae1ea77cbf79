//! Arbitrary bytes as keepalived.conf (and a few included files) through the preprocessor,
//! the tree builder, the lowering and the three diagnostic renderers. Nothing may panic.
//!
//! The input is split at 0xFF bytes (never valid UTF-8, so never part of a real file):
//! part 0 is /etc/keepalived/keepalived.conf, parts 1-3 are a.conf, conf.d/b.conf and
//! conf.d/c.conf beside it, so `include a.conf` or `include conf.d/*.conf` find them.
#![no_main]

use ka_config::fs::MemFs;
use ka_config::preprocess::{load, Limits, LoadOptions};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const NAMES: [&str; 4] = [
    "/etc/keepalived/keepalived.conf",
    "/etc/keepalived/a.conf",
    "/etc/keepalived/conf.d/b.conf",
    "/etc/keepalived/conf.d/c.conf",
];

fuzz_target!(|data: &[u8]| {
    let mut fs = MemFs::new().dir("/etc/keepalived/empty");
    for (i, part) in data.split(|b| *b == 0xff).take(NAMES.len()).enumerate() {
        fs.insert(NAMES[i], String::from_utf8_lossy(part).into_owned());
    }
    let opts = LoadOptions {
        config_id: Some("main".into()),
        cwd: Some("/".into()),
        random_seed: 1,
        // Small bounds so each run stays fast; the defaults are larger.
        limits: Limits {
            max_output_chars: 1 << 18,
            max_seq_count: 4096,
            max_line_chars: 1 << 14,
            max_substitutions: 2000,
            ..Limits::default()
        },
    };
    let loaded = load(Path::new(NAMES[0]), &fs, &opts);
    let env = ka_config::lower::Env {
        fs: &fs,
        interfaces: None,
    };
    let (_cfg, mut diags) = ka_config::lower::lower(&loaded.tree, &env);
    diags.extend(loaded.diagnostics);
    let _ = ka_config::render::plain(&diags, &loaded.sources);
    let _ = ka_config::render::json(&diags, &loaded.sources);
    let _ = ka_config::render::snippets(&diags, &loaded.sources, &loaded.included_from, false);
});
