//! Command-line parsing with GNU getopt_long's rules, as dnsmasq is built: long options
//! (`--opt=value`, `--opt value` where the argument is required, unambiguous prefixes),
//! short options (`-x value`, `-xvalue`, bundled flags), arguments permuted after
//! options, and `--` ending the options.

use super::error::{ConfigError, Origin};
use super::options::{self, Arg, OptionId, OPTIONS};

/// One option occurrence from the command line.
#[derive(Debug, PartialEq, Eq)]
pub struct CliOption {
    pub id: OptionId,
    pub arg: Option<String>,
}

fn usage_error(detail: String) -> ConfigError {
    ConfigError::bad("try --help")
        .with_detail(detail)
        .at(Origin::CommandLine)
}

/// Resolve a long name, allowing an unambiguous prefix as getopt_long does.
fn long_option(name: &str) -> Result<(OptionId, Arg), ConfigError> {
    if let Some(found) = options::by_long(name) {
        return Ok(found);
    }
    let matches: Vec<OptionId> = OPTIONS
        .iter()
        .enumerate()
        .filter(|(_, o)| o.long.starts_with(name))
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one, OPTIONS[*one].arg)),
        [] => Err(usage_error(format!("unrecognized option '--{name}'"))),
        _ => Err(usage_error(format!("option '--{name}' is ambiguous"))),
    }
}

/// Whether a short option takes an argument. dnsmasq's short options never take an
/// optional one: those with optional long forms are plain flags when short.
fn short_takes_arg(id: OptionId) -> bool {
    OPTIONS[id].arg == Arg::Required
        || matches!(
            OPTIONS[id].short,
            Some('c' | 'C' | 'r' | 'u' | 'g' | 'x' | 'l' | '3')
        )
}

/// Split argv (without the program name) into options and leftover words.
pub fn parse(args: &[String]) -> Result<(Vec<CliOption>, Vec<String>), ConfigError> {
    let mut out = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let (id, shape) = long_option(name)?;
            let arg = match (shape, inline) {
                (Arg::None, Some(_)) => {
                    return Err(usage_error(format!(
                        "option '--{name}' doesn't allow an argument"
                    )))
                }
                (Arg::None, None) => None,
                (Arg::Optional, v) => v,
                (Arg::Required, Some(v)) => Some(v),
                (Arg::Required, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.clone())
                    }
                    None => {
                        return Err(usage_error(format!(
                            "option '--{name}' requires an argument"
                        )))
                    }
                },
            };
            out.push(CliOption { id, arg });
        } else if a.len() > 1 && a.starts_with('-') {
            let letters: Vec<char> = a[1..].chars().collect();
            let mut k = 0;
            while k < letters.len() {
                let c = letters[k];
                k += 1;
                let id = options::by_short(c)
                    .ok_or_else(|| usage_error(format!("invalid option -- '{c}'")))?;
                if short_takes_arg(id) {
                    let inline: String = letters[k..].iter().collect();
                    let arg = if !inline.is_empty() {
                        inline
                    } else if let Some(v) = args.get(i) {
                        i += 1;
                        v.clone()
                    } else {
                        return Err(usage_error(format!("option requires an argument -- '{c}'")));
                    };
                    out.push(CliOption { id, arg: Some(arg) });
                    break;
                }
                out.push(CliOption { id, arg: None });
            }
        } else {
            rest.push(a.clone());
        }
    }
    Ok((out, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Vec<(String, Option<String>)>, ConfigError> {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (opts, _) = parse(&argv)?;
        Ok(opts
            .into_iter()
            .map(|o| (OPTIONS[o.id].long.to_string(), o.arg))
            .collect())
    }

    fn one(name: &str, arg: Option<&str>) -> (String, Option<String>) {
        (name.to_string(), arg.map(str::to_string))
    }

    #[test]
    fn long_forms_with_equals_and_separate_argument() {
        assert_eq!(
            run(&["--port=5353"]).unwrap(),
            vec![one("port", Some("5353"))]
        );
        assert_eq!(
            run(&["--port", "5353"]).unwrap(),
            vec![one("port", Some("5353"))]
        );
    }

    #[test]
    fn optional_argument_needs_equals() {
        assert_eq!(
            run(&["--log-queries", "--no-hosts"]).unwrap(),
            vec![one("log-queries", None), one("no-hosts", None)]
        );
        assert_eq!(
            run(&["--log-queries=extra"]).unwrap(),
            vec![one("log-queries", Some("extra"))]
        );
    }

    #[test]
    fn short_forms_bundle_and_attach() {
        assert_eq!(
            run(&["-kdp53", "-a", "127.0.0.1"]).unwrap(),
            vec![
                one("keep-in-foreground", None),
                one("no-daemon", None),
                one("port", Some("53")),
                one("listen-address", Some("127.0.0.1"))
            ]
        );
        assert_eq!(
            run(&["-C", "/etc/x.conf"]).unwrap(),
            vec![one("conf-file", Some("/etc/x.conf"))]
        );
    }

    #[test]
    fn unique_prefixes_are_accepted_and_ambiguous_ones_rejected() {
        assert_eq!(
            run(&["--keep-in"]).unwrap(),
            vec![one("keep-in-foreground", None)]
        );
        assert!(run(&["--dhcp"]).is_err());
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(run(&["--no-such-option"]).is_err());
        assert!(run(&["--no-hosts=1"]).is_err());
        assert!(run(&["--port"]).is_err());
        assert!(run(&["-j"]).is_err());
        assert!(run(&["-%"]).is_err());
    }

    #[test]
    fn aliases_map_to_their_option() {
        assert_eq!(
            run(&["--domain-suffix=lan"]).unwrap(),
            vec![one("domain", Some("lan"))]
        );
    }
}
