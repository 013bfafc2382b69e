//! Writes `events/*.json`, freshly signed: development session tokens (valid 1 h) and
//! webhook signatures (valid 5 min) expire, so run this (`make events`) before
//! `sam local invoke -e events/<f>` or `cargo lambda invoke --data-file events/<f>`.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let dir = devtools::workspace().join("events");
    std::fs::create_dir_all(&dir).unwrap();
    let samples = devtools::events::samples(now);
    for sample in &samples {
        let text = serde_json::to_string_pretty(&sample.event).unwrap() + "\n";
        std::fs::write(dir.join(&sample.file), text).unwrap();
    }
    println!(
        "signed {} events in events/ (tokens valid 1 h, webhook signatures 5 min)",
        samples.len()
    );
}
