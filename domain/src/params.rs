//! Request parameters that are not dates: page offsets and free text,
//! parsed with bounds so no value from a URL can overflow arithmetic or
//! blow up a query. Errors name the parameter.

use crate::DomainError;

/// Largest page offset accepted (no list has a million entries per cell).
pub const MAX_OFFSET: i64 = 1_000_000;
/// Longest free-text filter accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 100;

/// An optional page offset: absent or empty = 0; otherwise 0..=MAX_OFFSET.
pub fn offset(name: &'static str, raw: Option<&str>) -> Result<i64, DomainError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(0);
    };
    let bad = |message: String| DomainError::BadParameter { name, message };
    let value: i64 = raw.parse().map_err(|_| {
        bad(format!(
            "'{}' is not a whole number",
            raw.chars().take(40).collect::<String>()
        ))
    })?;
    if !(0..=MAX_OFFSET).contains(&value) {
        return Err(bad(format!("{value} is outside 0..={MAX_OFFSET}")));
    }
    Ok(value)
}

/// Optional free text (a search, a category code): at most `MAX_TEXT_CHARS`
/// characters, no control characters; empty = none.
pub fn text(name: &'static str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = |message: String| DomainError::BadParameter { name, message };
    if raw.chars().count() > MAX_TEXT_CHARS {
        return Err(bad(format!("longer than {MAX_TEXT_CHARS} characters")));
    }
    if raw.chars().any(char::is_control) {
        return Err(bad("contains control characters".into()));
    }
    Ok(Some(raw.to_string()))
}

/// An optional choice among `allowed` (absent or empty = `default`); any
/// other value is an error naming the parameter and the choices.
pub fn choice(
    name: &'static str,
    raw: Option<&str>,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static str, DomainError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    allowed
        .iter()
        .find(|a| **a == raw)
        .copied()
        .ok_or_else(|| DomainError::BadParameter {
            name,
            message: format!(
                "'{}' is not one of {}",
                raw.chars().take(40).collect::<String>(),
                allowed.join(", ")
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_one_of_the_documented_values() {
        assert_eq!(
            choice("mode", None, &["gaps", "all"], "gaps").unwrap(),
            "gaps"
        );
        assert_eq!(
            choice("mode", Some(" all "), &["gaps", "all"], "gaps").unwrap(),
            "all"
        );
        for bad in ["ALL", "everything", "gaps,all", "<script>"] {
            let e = choice("mode", Some(bad), &["gaps", "all"], "gaps").unwrap_err();
            assert!(
                e.to_string().starts_with("mode: ") && e.to_string().contains("gaps, all"),
                "{e}"
            );
        }
    }

    #[test]
    fn offsets_are_bounded_whole_numbers() {
        assert_eq!(offset("offset", None).unwrap(), 0);
        assert_eq!(offset("offset", Some(" 50 ")).unwrap(), 50);
        for bad in [
            "abc",
            "-1",
            "9223372036854775807",
            "99999999999999999999",
            "1e3",
        ] {
            let e = offset("uoff", Some(bad)).unwrap_err().to_string();
            assert!(e.starts_with("uoff: "), "{e}");
        }
    }

    #[test]
    fn text_is_short_and_printable() {
        assert_eq!(text("q", Some("  ")).unwrap(), None);
        assert_eq!(
            text("q", Some("lebron")).unwrap().as_deref(),
            Some("lebron")
        );
        assert!(text("q", Some(&"x".repeat(101))).is_err());
        assert!(text("q", Some("a\u{0}b"))
            .unwrap_err()
            .to_string()
            .starts_with("q: "));
    }
}
