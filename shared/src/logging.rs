//! Logs as Lambda expects them: to stdout, without timestamps (CloudWatch stamps each line),
//! as JSON when the function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), at the level of
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. The runtime's own setup does the same
//! with an env-filter, whose regex engine would add to every package; a plain level is all a
//! function here needs.

use tracing_subscriber::filter::LevelFilter;

/// Installs the global subscriber (once; later calls change nothing).
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level_filter(level.ok().as_deref()))
        .with_writer(std::io::stdout);
    // Already set (a test, an embedding service): keep theirs.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// A level name (`debug`, `WARN`, `off`…); INFO for none or an unknown one, as Lambda does.
pub fn level_filter(raw: Option<&str>) -> LevelFilter {
    raw.map(str::trim)
        .filter(|r| !r.is_empty())
        .and_then(|r| r.parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_name_in_any_case_else_info() {
        let cases = [
            (None, LevelFilter::INFO),
            (Some("debug"), LevelFilter::DEBUG),
            (Some("WARN"), LevelFilter::WARN),
            (Some(" error "), LevelFilter::ERROR),
            (Some("off"), LevelFilter::OFF),
            (Some("trace"), LevelFilter::TRACE),
            (Some("shared=debug"), LevelFilter::INFO),
            (Some(""), LevelFilter::INFO),
        ];
        for (raw, level) in cases {
            assert_eq!(level_filter(raw), level, "{raw:?}");
        }
    }
}
