//! Config-file line syntax as dnsmasq reads it: `name=value` or bare `name`, comments,
//! quoting with backslash escapes, and white space folded to single spaces.
//!
//! Quoted text keeps its separators: a quoted comma, colon, dot or space is stored as a
//! private-use character (`hide`) so later splitting passes over it; `unhide` restores it
//! once a field has been split out.

/// Characters that separate fields and so are hidden inside quotes.
const HIDDEN: [char; 4] = [' ', ',', ':', '.'];
const HIDE_BASE: u32 = 0xE000;

fn hide(c: char) -> char {
    match HIDDEN.iter().position(|&h| h == c) {
        Some(i) => char::from_u32(HIDE_BASE + i as u32).unwrap_or(c),
        None => c,
    }
}

/// Restore quoted separators in a field that has been split out.
pub fn unhide(s: &str) -> String {
    s.chars()
        .map(|c| {
            let code = c as u32;
            if (HIDE_BASE..HIDE_BASE + HIDDEN.len() as u32).contains(&code) {
                HIDDEN[(code - HIDE_BASE) as usize]
            } else {
                c
            }
        })
        .collect()
}

/// One meaningful config line: the option name and its argument, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub arg: Option<String>,
}

/// Turn one raw line into a `Line`; `Ok(None)` for blank and comment-only lines.
/// The error is dnsmasq's message for an unterminated quote.
pub fn parse_line(raw: &str) -> Result<Option<Line>, &'static str> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    let mut after_space = true;
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut closed = false;
            while let Some(q) = chars.next() {
                match q {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' if matches!(
                        chars.peek(),
                        Some('"' | 't' | 'n' | 'e' | 'b' | 'r' | '\\')
                    ) =>
                    {
                        let e = chars.next().unwrap_or('\\');
                        out.push(match e {
                            't' => '\t',
                            'n' => '\n',
                            'e' => '\x1b',
                            'b' => '\x08',
                            'r' => '\r',
                            other => other,
                        });
                    }
                    other => out.push(hide(other)),
                }
            }
            if !closed {
                return Err("missing \"");
            }
            after_space = false;
            continue;
        }
        if c.is_ascii_whitespace() || c == '\x0b' {
            out.push(' ');
            after_space = true;
        } else if after_space && c == '#' {
            break;
        } else {
            out.push(c);
            after_space = false;
        }
    }
    let text = out.trim_matches(' ');
    if text.is_empty() {
        return Ok(None);
    }
    let (name, arg) = match text.find('=') {
        Some(eq) => {
            let name = text[..eq].trim_end_matches([' ', '=']);
            (
                name,
                Some(text[eq + 1..].trim_start_matches(' ').to_string()),
            )
        }
        None => (text, None),
    };
    Ok(Some(Line {
        name: name.to_string(),
        arg,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(raw: &str) -> Option<(String, Option<String>)> {
        parse_line(raw).unwrap().map(|l| (l.name, l.arg))
    }

    #[test]
    fn spaces_around_equals_and_ends_are_ignored() {
        assert_eq!(
            line("  port = 5353  "),
            Some(("port".into(), Some("5353".into())))
        );
    }

    #[test]
    fn hash_after_space_starts_a_comment_but_not_inside_a_value() {
        assert_eq!(
            line("port=5 # five"),
            Some(("port".into(), Some("5".into())))
        );
        assert_eq!(
            line("server=1.2.3.4#53"),
            Some(("server".into(), Some("1.2.3.4#53".into())))
        );
        assert_eq!(line("# only a comment"), None);
        assert_eq!(line("   "), None);
    }

    #[test]
    fn bare_option_has_no_argument_and_empty_value_is_kept() {
        assert_eq!(line("no-hosts"), Some(("no-hosts".into(), None)));
        assert_eq!(
            line("interface="),
            Some(("interface".into(), Some(String::new())))
        );
    }

    #[test]
    fn quotes_keep_separators_and_process_escapes() {
        let (_, arg) = line(r#"txt-record=example.com,"a, b \"c\"\t""#).unwrap();
        let arg = arg.unwrap();
        assert_eq!(arg.split(',').count(), 2, "quoted comma must not split");
        assert_eq!(unhide(&arg), "example.com,a, b \"c\"\t");
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert_eq!(parse_line(r#"txt-record=a,"oops"#), Err("missing \""));
    }

    #[test]
    fn tabs_fold_to_spaces() {
        assert_eq!(
            line("port\t=\t53"),
            Some(("port".into(), Some("53".into())))
        );
    }
}
