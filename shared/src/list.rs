//! Lists in one variable: `a, b c` (commas, spaces or both), read the same way everywhere.

/// Comma- or whitespace-separated list, empty entries dropped.
pub(crate) fn split_list(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_and_spaces_separate_items() {
        assert_eq!(split_list(" a, b  c,,d "), ["a", "b", "c", "d"]);
        assert!(split_list(" , ").is_empty());
    }
}
