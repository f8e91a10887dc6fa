//! The contract's field rules, shared by HTTP and WebSocket.

/// Control characters (category Cc) and the line and paragraph separators.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): in a
/// name they reorder what is shown around it, so "gnp.exe" can read as "exe.png". Other format
/// characters (joiners, variation selectors) stay allowed: emoji need them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub fn user_name(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    let mut chars = value.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !(6..=30).contains(&len)
        || !starts_with_letter
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(
            "userName must be 6-30 characters: an ASCII letter first, then ASCII letters, digits or _".into(),
        );
    }
    Ok(())
}

/// A display name (nickName, thread name): no control character anywhere, then trimmed, then
/// 1..=max code points. Returns the trimmed value.
pub fn display_name(field: &str, value: &str, max: usize) -> Result<String, String> {
    if value.chars().any(is_forbidden_control) {
        return Err(format!(
            "{field} must not contain control characters or line breaks"
        ));
    }
    if value.chars().any(is_bidi_control) {
        return Err(format!(
            "{field} must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)"
        ));
    }
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > max {
        return Err(format!("{field} must be 1-{max} characters"));
    }
    Ok(trimmed.to_owned())
}

pub fn nick_name(value: &str) -> Result<String, String> {
    display_name("nickName", value, 50)
}

pub fn thread_name(value: &str) -> Result<String, String> {
    display_name("name", value, 100)
}

pub fn password(value: &str) -> Result<(), String> {
    if !(8..=72).contains(&value.len()) {
        return Err("password must be 8-72 bytes long".into());
    }
    let lower = value.chars().any(char::is_lowercase);
    let upper = value.chars().any(char::is_uppercase);
    let digit = value.chars().any(|c| c.is_ascii_digit());
    if !(lower && upper && digit) {
        return Err(
            "password must contain a lowercase letter, an uppercase letter and a digit".into(),
        );
    }
    Ok(())
}

pub const MAX_TEXT_CHARS: usize = 4000;

/// Message text: kept exactly as sent; LF, CR and tab allowed, other control characters not.
pub fn message_text(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("text must be at most {MAX_TEXT_CHARS} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(
            "text must not contain control characters other than line breaks and tabs".into(),
        );
    }
    if value.chars().all(char::is_whitespace) {
        return Err("text must contain a non-whitespace character".into());
    }
    Ok(())
}

pub const MAX_EMOJI_BYTES: usize = 32;

/// A reaction: an emoji sequence or a short name like `:shipit:`, 1-32 bytes, with no
/// whitespace (Unicode White_Space) or control character.
pub fn emoji(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_EMOJI_BYTES {
        return Err(format!("emoji must be 1-{MAX_EMOJI_BYTES} bytes"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("emoji must not contain whitespace or control characters".into());
    }
    Ok(())
}

pub const MAX_SEARCH_CHARS: usize = 200;

/// A search query: 1-200 code points as sent, with at least one letter or digit. Its words are
/// its runs of letters and digits (lower-cased, each once); everything else separates them, so
/// no punctuation reaches a search engine.
pub fn search_words(q: &str) -> Result<Vec<String>, String> {
    let len = q.chars().count();
    if len == 0 || len > MAX_SEARCH_CHARS {
        return Err(format!("q must be 1-{MAX_SEARCH_CHARS} characters"));
    }
    let mut words: Vec<String> = Vec::new();
    for word in q.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if !word.is_empty() && !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        return Err("q must contain a letter or a digit".into());
    }
    Ok(words)
}

pub fn client_msg_id(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
        return Err("clientMsgId must be 1-128 bytes without control characters".into());
    }
    Ok(())
}

/// A page size: `default` when absent, else within `1..=max`.
pub fn limit(value: Option<i64>, default: i64, max: i64) -> Result<i64, String> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(format!("limit must be between 1 and {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_bounds() {
        assert!(user_name("abcde").is_err());
        assert!(user_name("abcdef").is_ok());
        assert!(user_name(&"a".repeat(30)).is_ok());
        assert!(user_name(&"a".repeat(31)).is_err());
        assert!(user_name("1abcdef").is_err());
        assert!(user_name("abc def").is_err());
        assert!(user_name("abcdé_1").is_err());
    }

    #[test]
    fn nick_name_rules() {
        assert_eq!(nick_name("  Bob  ").as_deref(), Ok("Bob"));
        assert!(nick_name("a\tb").is_err());
        assert!(nick_name("a\u{2028}b").is_err());
        assert!(nick_name("   ").is_err());
        assert!(nick_name(&"é".repeat(50)).is_ok());
        assert!(nick_name(&"é".repeat(51)).is_err());
        assert!(nick_name("👩‍👩‍👧").is_ok());
    }

    #[test]
    fn names_refuse_bidi_controls_but_keep_emoji_joiners() {
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            assert!(nick_name(&format!("ab{c}cd")).is_err(), "{:X}", c as u32);
            assert!(thread_name(&format!("ab{c}cd")).is_err(), "{:X}", c as u32);
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert!(nick_name(&format!("ab{c}cd")).is_err(), "{:X}", c as u32);
            assert!(thread_name(&format!("{c}")).is_err(), "{:X}", c as u32);
        }
        // the neighbours of both ranges are not controls of that kind
        assert!(
            nick_name("a\u{2029}b").is_err(),
            "a paragraph separator: a line break"
        );
        assert!(nick_name("a\u{2060}b").is_ok(), "word joiner");
        assert!(nick_name("a\u{206A}b").is_ok());
        assert!(nick_name("a\u{200D}b\u{200C}c").is_ok(), "ZWJ and ZWNJ");
        // ZWJ sequence, VS16, skin tone, flag, keycap
        for emoji in ["👨‍👩‍👧‍👦", "❤\u{FE0F}", "👍🏽", "🇫🇷", "1\u{FE0F}\u{20E3}", "🏳️‍🌈"]
        {
            assert!(nick_name(emoji).is_ok(), "{emoji}");
            assert!(thread_name(emoji).is_ok(), "{emoji}");
        }
        assert!(is_bidi_control('\u{202E}') && !is_bidi_control('\u{200F}'));
    }

    #[test]
    fn password_rules() {
        assert!(password("Abcdef1").is_err());
        assert!(password("Abcdefg1").is_ok());
        assert!(password("abcdefg1").is_err());
        assert!(password(&format!("Ab1{}", "x".repeat(69))).is_ok());
        assert!(password(&format!("Ab1{}", "x".repeat(70))).is_err());
    }

    #[test]
    fn text_rules() {
        assert!(message_text("hi\n\tthere").is_ok());
        assert!(message_text(" \n ").is_err());
        assert!(message_text("a\u{0}b").is_err());
        assert!(message_text(&"x".repeat(4000)).is_ok());
        assert!(message_text(&"x".repeat(4001)).is_err());
    }
}
