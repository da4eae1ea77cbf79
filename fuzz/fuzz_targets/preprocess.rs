//! Like `config_parse` but only the preprocessor and the tree builder (and the plain
//! renderer), for a higher execution rate on the front end itself.
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
        cwd: None,
        random_seed: 2,
        limits: Limits {
            max_output_chars: 1 << 18,
            max_seq_count: 4096,
            max_line_chars: 1 << 14,
            max_substitutions: 2000,
            ..Limits::default()
        },
    };
    let loaded = load(Path::new(NAMES[0]), &fs, &opts);
    let _ = ka_config::render::plain(&loaded.diagnostics, &loaded.sources);
});
