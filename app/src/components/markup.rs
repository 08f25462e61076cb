//! Markup built as a string, escaped: static lists and the grids' bodies
//! cost the bundle no view code.

/// A `<details>` disclosure (works without JavaScript) around `inner`, as
/// markup built as a string: static lists cost the bundle no view code.
pub fn disclosure(summary: &str, open: bool, inner: &str) -> String {
    format!(
        "<details class=\"rc-disclosure\"{}><summary>{}</summary>{inner}</details>",
        if open { " open" } else { "" },
        text(summary)
    )
}

/// `s` escaped for a double-quoted attribute of markup built as a string.
pub fn attr(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

/// `s` escaped as text of markup built as a string.
pub fn text(s: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_text(s)
}
