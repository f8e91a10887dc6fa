//! The field rules of [`super::validate`] as JSON Schema `pattern`s (ECMA-262, Unicode mode) for
//! /openapi.json. Each class is made by running the check's own predicate over every code
//! point, so the document cannot drift from the check; what a pattern cannot say (lengths in
//! bytes, lengths after trimming) stays in the schema's description and length keywords. The
//! password's character classes have no pattern: docs/ARCHITECTURE.md says why.

use super::validate::{is_bidi_control, is_forbidden_control};

/// The body of a character class (`[...]` without the brackets) holding exactly the code
/// points `keep` accepts; `\uXXXX` in the BMP, `\u{XXXXX}` beyond it (Unicode mode; the
/// classes used today are all in the BMP).
pub fn class(keep: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut run: Option<(char, char)> = None;
    let flush = |run: (char, char), out: &mut String| {
        out.push_str(&escape(run.0));
        if run.1 != run.0 {
            out.push('-');
            out.push_str(&escape(run.1));
        }
    };
    for c in (0..=0x10FFFF)
        .filter_map(char::from_u32)
        .filter(|&c| keep(c))
    {
        run = match run {
            // the surrogate gap splits a run, which only costs one more range
            Some((start, end)) if u32::from(end) + 1 == u32::from(c) => Some((start, c)),
            Some(done) => {
                flush(done, &mut out);
                Some((c, c))
            }
            None => Some((c, c)),
        };
    }
    if let Some(done) = run {
        flush(done, &mut out);
    }
    out
}

fn escape(c: char) -> String {
    let n = u32::from(c);
    if n <= 0xFFFF {
        format!("\\u{n:04X}")
    } else {
        format!("\\u{{{n:X}}}")
    }
}

/// Some character that is neither whitespace nor `forbidden`. Unanchored, so it says nothing of
/// the other characters: a value it refuses the server refuses too (only whitespace, or
/// forbidden characters), while forbidden characters beside content are left to the
/// description. The full rule, `^[^F]*[^FW][^F]*$`, made schemathesis fail internally.
fn not_only_whitespace_or(forbidden: impl Fn(char) -> bool) -> String {
    format!("[^{}]", class(|c| forbidden(c) || c.is_whitespace()))
}

/// Message text: not only whitespace (nor only control characters other than line breaks and
/// tabs).
pub fn message_text() -> String {
    not_only_whitespace_or(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// nickName and thread names: not only whitespace (they are trimmed), nor only control
/// characters, line or paragraph separators or bidirectional controls.
pub fn display_name() -> String {
    not_only_whitespace_or(|c| is_forbidden_control(c) || is_bidi_control(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_lists_runs_and_escapes_beyond_the_bmp() {
        assert_eq!(
            class(|c| matches!(c, 'a'..='c' | 'x' | '\u{1F600}'..='\u{1F601}')),
            "\\u0061-\\u0063\\u0078\\u{1F600}-\\u{1F601}"
        );
        assert_eq!(class(|_| false), "");
    }
}
