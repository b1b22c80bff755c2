//! The config loader on arbitrary text: `${VAR}` substitution, YAML parsing, the position
//! index and every validation (CEL filters, cron patterns, time zones, URLs, schemes) must
//! answer an error, never panic or hang. A reload of a broken file must not take the hub down.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// A fixed environment, so `${SET}` and `${EMPTY:-d}` take both branches.
fn env(name: &str) -> Option<String> {
    match name {
        "SET" => Some("value".to_string()),
        "EMPTY" => Some(String::new()),
        "YAML" => Some("{ a: [1, 2] }".to_string()),
        _ => None,
    }
}

fuzz_target!(|text: &str| {
    match hookhub::load_str_with_warnings(text, "fuzz.yaml", &env) {
        Ok((config, warnings)) => {
            for w in &warnings {
                let _ = w.to_string();
            }
            // What the hub does with a loaded config next: build every hook's verifier.
            for hook in &config.hooks {
                let _ = hookhub::Verifier::new(&hook.trigger_config);
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!e.issues.is_empty(), "an error with no issue");
            assert!(message.starts_with("fuzz.yaml:"), "{message}");
        }
    }
});
