//! `*.conf.json` as KMS users write them.
//!
//! The KMS 7 `kurento.conf.json` uses repeated `"//"` keys as comments and disables settings by
//! prefixing the key with `//` (`"//port": 8433`). Older (6.x) copies still in use have real `//` line
//! comments and `/* ... */` blocks, which boost's old JSON reader skipped. We accept all of these:
//! comments are blanked out (keeping line/column numbers intact for error messages), the text is
//! parsed into a `serde_json::Value` (a duplicate key keeps its last value) and every key starting with
//! `//` is dropped.

use std::path::Path;

use serde_json::Value;

use super::error::ConfigError;

/// Parses one JSON configuration file; the top level must be an object.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let cleaned = blank_comments(text);
    let mut value: Value = serde_json::from_str(&cleaned).map_err(|e| {
        let full = e.to_string();
        let message = match full.rfind(" at line ") {
            Some(idx) => full[..idx].to_owned(),
            None => full,
        };
        ConfigError::Syntax {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    if !value.is_object() {
        return Err(ConfigError::Syntax {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message: "expected a JSON object at the top level".to_owned(),
        });
    }
    drop_commented_keys(&mut value);
    Ok(value)
}

/// Replaces `// ...` and `/* ... */` comments outside strings with spaces, keeping newlines.
fn blank_comments(text: &str) -> String {
    enum State {
        Code,
        Str { escaped: bool },
        Line,
        Block { star: bool },
    }
    let mut out = String::with_capacity(text.len());
    let mut state = State::Code;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            State::Code => match (c, chars.peek()) {
                ('"', _) => {
                    state = State::Str { escaped: false };
                    out.push(c);
                }
                ('/', Some('/')) => {
                    chars.next();
                    out.push_str("  ");
                    state = State::Line;
                }
                ('/', Some('*')) => {
                    chars.next();
                    out.push_str("  ");
                    state = State::Block { star: false };
                }
                _ => out.push(c),
            },
            State::Str { escaped } => {
                out.push(c);
                state = match (escaped, c) {
                    (false, '\\') => State::Str { escaped: true },
                    (false, '"') => State::Code,
                    _ => State::Str { escaped: false },
                };
            }
            State::Line => {
                if c == '\n' {
                    out.push('\n');
                    state = State::Code;
                } else {
                    push_blank(&mut out, c);
                }
            }
            State::Block { star } => {
                if star && c == '/' {
                    out.push(' ');
                    state = State::Code;
                } else {
                    push_blank(&mut out, c);
                    state = State::Block { star: c == '*' };
                }
            }
        }
    }
    out
}

/// Blanks one commented-out character, keeping line breaks and the byte width (serde_json counts
/// columns in bytes) so that error positions still match the file.
fn push_blank(out: &mut String, c: char) {
    match c {
        '\n' | '\r' | '\t' => out.push(c),
        _ => out.extend(std::iter::repeat_n(' ', c.len_utf8())),
    }
}

/// Removes keys that are comments (`"//"`) or commented-out settings (`"//port"`), recursively.
pub(crate) fn drop_commented_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with("//"));
            map.values_mut().for_each(drop_commented_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_commented_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_outside_strings_are_removed_and_strings_kept() {
        let text = r#"{
  // a line comment with "quotes"
  "url": "ws://host//path", /* block
  spanning lines */ "n": 1, "s": "a /* not a comment */ b"
}"#;
        let v = parse(Path::new("x.conf.json"), text).unwrap();
        assert_eq!(
            v,
            json!({"url": "ws://host//path", "n": 1, "s": "a /* not a comment */ b"})
        );
    }

    #[test]
    fn escaped_quote_does_not_end_string() {
        let v = parse(Path::new("x.conf.json"), r#"{"a": "say \"//hi\"", "b": 2}"#).unwrap();
        assert_eq!(v, json!({"a": "say \"//hi\"", "b": 2}));
    }

    #[test]
    fn duplicate_comment_keys_and_commented_settings_are_dropped() {
        let text = r#"{"//": "one", "//": "two", "//port": 1, "port": 8888,
                      "nested": {"//x": {"y": 1}, "z": [{"//k": 1, "k": 2}]}}"#;
        let v = parse(Path::new("x.conf.json"), text).unwrap();
        assert_eq!(v, json!({"port": 8888, "nested": {"z": [{"k": 2}]}}));
    }

    #[test]
    fn syntax_error_reports_line_and_column_of_the_original_text() {
        let text = "{\n  /* comment */ \"a\": 1,\n  \"b\": [1 2]\n}";
        let err = parse(Path::new("/etc/kurento/kurento.conf.json"), text).unwrap_err();
        match &err {
            ConfigError::Syntax { line, column, .. } => {
                assert_eq!(*line, 3);
                assert_eq!(*column, 11);
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.starts_with("/etc/kurento/kurento.conf.json: line 3, column "),
            "{msg}"
        );
    }

    #[test]
    fn columns_after_a_block_comment_match_the_file() {
        let line = "  /* naïve – comment */ \"a\": x";
        let text = format!("{{\n{line}\n}}");
        let err = parse(Path::new("a.conf.json"), &text).unwrap_err();
        let want = line.find('x').unwrap() + 1;
        match err {
            ConfigError::Syntax { line, column, .. } => assert_eq!((line, column), (2, want)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn top_level_must_be_an_object() {
        let err = parse(Path::new("a.conf.json"), "[1, 2]").unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
    }
}
