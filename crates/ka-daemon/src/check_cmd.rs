//! `keepalived-rs check` and `keepalived-rs -t`: load, lower, print diagnostics.

use crate::Format;
use ka_config::fs::StdFs;
use ka_config::lower::{Env, Lowering};
use ka_config::preprocess::{load_streaming, LoadOptions};
use ka_config::render;
use ka_config::source::FileSystem;
use ka_config::Severity;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to check and how to report it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The top-level configuration file.
    pub file: PathBuf,
    /// `-i`: the configuration id (default: host name up to the first dot).
    pub config_id: Option<String>,
    /// How diagnostics are printed.
    pub format: Format,
    /// Print the model as JSON on stdout (diagnostics then go to stderr).
    pub dump: bool,
    /// Check interfaces against this host.
    pub host_checks: bool,
    /// `-t=LOG_FILE`: write diagnostics there instead of stderr.
    pub log_file: Option<PathBuf>,
}

/// Runs the check; exit status 0 = no error, 1 = errors, 2 = could not run.
pub fn run(req: &Request) -> ExitCode {
    let fs = StdFs;
    if !fs.exists(&req.file) {
        eprintln!(
            "keepalived-rs: configuration file {} not found (give another with -f FILE)",
            req.file.display()
        );
        return ExitCode::from(2);
    }
    let opts = LoadOptions {
        config_id: req
            .config_id
            .clone()
            .or_else(ka_config::fs::default_config_id),
        cwd: std::env::current_dir().ok(),
        ..LoadOptions::default()
    };
    let interfaces = if req.host_checks {
        fs.read_dir(Path::new("/sys/class/net")).ok()
    } else {
        None
    };
    let env = Env {
        fs: &fs,
        interfaces,
    };
    // Each top-level block is lowered as soon as it is complete and its tokens dropped,
    // so the whole syntax tree is never held at once.
    let mut lowering = if req.dump {
        Lowering::new(&env)
    } else {
        Lowering::diagnostics_only(&env)
    };
    let loaded = load_streaming(&req.file, &fs, &opts, &mut |node| lowering.node(&node));
    let (config, lower_diags) = lowering.finish();
    let mut diags = loaded.diagnostics.clone();
    diags.extend(lower_diags);
    diags.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)));
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();

    let to_terminal = req.log_file.is_none() && std::io::stderr().is_terminal();
    let format = match req.format {
        Format::Auto if to_terminal => Format::Human,
        Format::Auto => Format::Plain,
        f => f,
    };
    let text = match format {
        Format::Json => render::json(&diags, &loaded.sources),
        Format::Human => {
            render::snippets(&diags, &loaded.sources, &loaded.included_from, to_terminal)
        }
        _ => render::plain(&diags, &loaded.sources),
    };
    // JSON findings go to stdout (for tools) unless stdout carries the model dump.
    let res = if let Some(path) = &req.log_file {
        std::fs::write(path, &text)
    } else if format == Format::Json && !req.dump {
        writeln!(std::io::stdout(), "{}", text.trim_end())
    } else {
        write!(std::io::stderr(), "{text}")
    };
    if let Err(e) = res {
        eprintln!("keepalived-rs: cannot write diagnostics: {e}");
        return ExitCode::from(2);
    }
    if req.dump {
        match serde_json::to_value(&config)
            .map(durations_as_seconds)
            .and_then(|v| serde_json::to_string_pretty(&v))
        {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("keepalived-rs: cannot serialise the configuration: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if format != Format::Json && req.log_file.is_none() && !diags.is_empty() {
        let warnings = diags.len() - errors;
        eprintln!(
            "{}: {errors} error(s), {warnings} warning(s)",
            req.file.display()
        );
    }
    // The process ends here: freeing a large model piece by piece only costs time.
    std::mem::forget(config);
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Durations in the dump are plain seconds (`1.5`), not serde's `{"secs":1,"nanos":500000000}`.
fn durations_as_seconds(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if m.len() == 2 {
                if let (Some(s), Some(n)) = (
                    m.get("secs").and_then(Value::as_u64),
                    m.get("nanos").and_then(Value::as_u64),
                ) {
                    // Whole seconds stay integers; fractions are exact to the nanosecond
                    // in their decimal form.
                    return if n == 0 {
                        Value::from(s)
                    } else {
                        format!("{s}.{n:09}")
                            .trim_end_matches('0')
                            .parse::<serde_json::Number>()
                            .map_or(Value::Null, Value::Number)
                    };
                }
            }
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, durations_as_seconds(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(durations_as_seconds).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::durations_as_seconds;
    use std::time::Duration;

    #[test]
    fn durations_become_seconds() {
        let v = serde_json::json!({
            "a": Duration::from_millis(1500),
            "b": [Duration::from_secs(3), Duration::from_micros(10)],
            "c": {"secs": 1, "nanos": 2, "other": 3},
        });
        let got = durations_as_seconds(v);
        assert_eq!(got["a"].to_string(), "1.5");
        assert_eq!(got["b"].to_string(), "[3,0.00001]");
        // Not a Duration (a third key): left alone.
        assert_eq!(got["c"]["secs"], 1);
    }
}
