//! Configuration: reads the command line and config files exactly as dnsmasq 2.90 does,
//! into a list of typed option values, and checks what dnsmasq checks before start-up.

pub mod cli;
pub mod domain_rules;
pub mod error;
pub mod help;
pub mod lexer;
pub mod options;
pub mod parse;
pub mod values;

use crate::parallel_parse;
use error::{ConfigError, ExitCode, Origin};
use options::{Arg, OptionId, Repeat, Status, OPTIONS};
use parse::Value;
use std::collections::HashSet;
use std::path::Path;

/// The config file read when none is named, as for dnsmasq.
pub const DEFAULT_CONF_FILE: &str = "/etc/dnsmasq.conf";
/// The resolv file used when none is named.
pub const DEFAULT_RESOLV_FILE: &str = "/etc/resolv.conf";
/// Longest config line dnsmasq reads in one piece.
const MAX_LINE_BYTES: usize = 1025;
/// Files that promise this many plain domain rules are taken for block lists, and their
/// rule table sized for them at once.
const MANY_RULES: usize = 10_000;
/// Config text is parsed this much at a time for each core (a block's rules in pieces
/// across the cores). Small enough that the blocks and their parsed rules stay in memory
/// already resident, block after block, rather than each faulting in fresh pages.
const RULE_BLOCK_BYTES_PER_CORE: usize = 256 << 10;

/// How much config text is parsed at a time.
fn rule_block_bytes() -> usize {
    RULE_BLOCK_BYTES_PER_CORE * parallel_parse::cores()
}
/// How deeply conf-file and conf-dir may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 32;

/// The largest configuration file read (a block list of some 30 million rules).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// One option as given, with its typed value and where it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: OptionId,
    pub value: Value,
    pub origin: Origin,
}

/// Everything read from the command line and config files, in order.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub entries: Vec<Entry>,
    /// The `server=`, `local=` and `address=` lines for domains, kept compactly rather
    /// than as entries (lines naming an upstream server are entries too).
    pub domain_rules: std::sync::Arc<domain_rules::DomainRules>,
}

impl Config {
    /// A configuration from config-file text alone (no default file, no command line).
    pub fn from_text(text: &str) -> Result<Config, ConfigError> {
        let mut loader = Loader::new();
        loader.read_text("<text>", text)?;
        Ok(loader.finish())
    }

    /// Every value given for an option, in the order given.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let id = options::id(name);
        self.entries
            .iter()
            .filter(move |e| e.id == id)
            .map(|e| &e.value)
    }

    /// Every value given for any of these options, in the order given across them all,
    /// each with its option's name.
    pub fn values_of<'a>(
        &'a self,
        names: &'a [&str],
    ) -> impl Iterator<Item = (&'static str, &'a Value)> + 'a {
        let ids: Vec<OptionId> = names.iter().map(|n| options::id(n)).collect();
        self.entries
            .iter()
            .filter(move |e| ids.contains(&e.id))
            .map(|e| (OPTIONS[e.id].long, &e.value))
    }

    /// The value that counts for a one-value option: the last one (a file overrides the
    /// command line).
    pub fn last(&self, name: &str) -> Option<&Value> {
        self.values(name).last()
    }

    /// Whether an option was given at all.
    pub fn has(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    /// A number option's value, or the default.
    pub fn uint_or(&self, name: &str, default: u64) -> u64 {
        match self.last(name) {
            Some(Value::Uint(v)) => *v,
            _ => default,
        }
    }

    /// The names of a list option (`--interface=a,b`), all its occurrences together.
    pub fn text_list(&self, name: &str) -> Vec<String> {
        self.values(name)
            .filter_map(|v| match v {
                Value::TextList(l) => Some(l.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// A text option's value.
    pub fn text(&self, name: &str) -> Option<Option<String>> {
        match self.last(name) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        }
    }

    /// Options given whose feature is not built yet, each named once, in table order.
    pub fn unbuilt(&self) -> Vec<(&'static str, Status)> {
        let used: HashSet<OptionId> = self.entries.iter().map(|e| e.id).collect();
        OPTIONS
            .iter()
            .enumerate()
            .filter(|(i, o)| used.contains(i) && o.status != Status::Works)
            .map(|(_, o)| (o.long, o.status))
            .collect()
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print this text on stdout and exit 0 (`--help`, `--version`).
    Print(String),
    /// `--test`: the configuration is good.
    TestOk,
    Run(Box<Config>),
}

/// Linux's index for an interface name, if the interface exists.
pub fn interface_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// Per-option repeat bookkeeping, as dnsmasq keeps it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Used {
    No,
    CommandLine,
    File,
}

/// Reads options from all sources into a `Config`, applying the repeat rules.
struct Loader {
    config: Config,
    /// Domain rules read so far.
    rules: domain_rules::Builder,
    used: Vec<Used>,
    /// Files already read (by device and inode): dnsmasq reads each only once.
    seen_files: HashSet<(u64, u64)>,
    depth: usize,
}

impl Loader {
    fn new() -> Loader {
        Loader {
            config: Config::default(),
            rules: domain_rules::Builder::default(),
            used: vec![Used::No; OPTIONS.len()],
            seen_files: HashSet::new(),
            depth: 0,
        }
    }

    /// The configuration read.
    fn finish(self) -> Config {
        let mut config = self.config;
        config.domain_rules = std::sync::Arc::new(self.rules.finish());
        config
    }

    /// Apply one option occurrence: repeat rules, value parsing, includes, cross-entry checks.
    fn apply(
        &mut self,
        id: OptionId,
        arg: Option<&str>,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        let spec = &OPTIONS[id];
        let from_cli = *origin == Origin::CommandLine;
        if spec.repeat == Repeat::Once {
            let used = self.used[id];
            if from_cli && used == Used::CommandLine {
                return Err(ConfigError::bad("illegal repeated flag")
                    .with_detail(format!("--{}", spec.long)));
            }
            if !from_cli && used == Used::File {
                return Err(ConfigError::bad("illegal repeated keyword")
                    .with_detail(format!("--{}", spec.long)));
            }
            self.used[id] = if from_cli {
                Used::CommandLine
            } else {
                Used::File
            };
        }
        let value = parse::parse(spec, arg)?;
        match spec.long {
            "conf-file" => {
                if let Value::Text(Some(path)) = &value {
                    self.read_file(path)?;
                }
            }
            "conf-dir" => {
                if let Value::TextList(parts) = &value {
                    self.read_dir(parts)?;
                }
            }
            "conf-script" => {
                if let Value::Text(Some(cmd)) = &value {
                    self.read_script(cmd)?;
                }
            }
            "cname" => self.check_duplicate_cname(&value)?,
            "dhcp-host" => self.check_duplicate_host_address(&value)?,
            "server" | "local" | "address" if domain_rules::for_domains(&value) => {
                self.rules.add(spec.long, &value);
                // Block lists give millions of these: only a line naming an upstream
                // server is kept as an entry too (it is listed and may bind a source).
                if !matches!(
                    value,
                    Value::Server {
                        target: parse::ServerTarget::Upstream { .. },
                        ..
                    }
                ) {
                    return Ok(());
                }
            }
            _ => {}
        }
        self.config.entries.push(Entry {
            id,
            value,
            origin: origin.clone(),
        });
        Ok(())
    }

    fn check_duplicate_cname(&self, value: &Value) -> Result<(), ConfigError> {
        let Value::Cname { aliases, .. } = value else {
            return Ok(());
        };
        for existing in self.config.values("cname") {
            if let Value::Cname { aliases: old, .. } = existing {
                if aliases
                    .iter()
                    .any(|a| old.iter().any(|o| o.eq_ignore_ascii_case(a)))
                {
                    return Err(ConfigError::bad("duplicate CNAME"));
                }
            }
        }
        Ok(())
    }

    fn check_duplicate_host_address(&self, value: &Value) -> Result<(), ConfigError> {
        let Value::DhcpHost(h) = value else {
            return Ok(());
        };
        let Some(addr) = h.addr else { return Ok(()) };
        for existing in self.config.values("dhcp-host") {
            if let Value::DhcpHost(old) = existing {
                if old.addr == Some(addr) {
                    return Err(ConfigError::bad(format!(
                        "duplicate dhcp-host IP address {addr}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Read a config file; a missing file is exit code 3.
    fn read_file(&mut self, path: &str) -> Result<(), ConfigError> {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if !self.seen_files.insert((meta.dev(), meta.ino())) {
                return Ok(());
            }
        }
        let (file, size) = open_config_file(path)?;
        self.read_lines(file, size, |line| Origin::File {
            path: path.to_string(),
            line,
        })
        .map_err(|stop| stop.or_read(|e| cannot_read(path, &e)))
    }

    fn read_text(&mut self, path: &str, text: &str) -> Result<(), ConfigError> {
        let origin_of = |line| Origin::File {
            path: path.to_string(),
            line,
        };
        self.read_lines(text.as_bytes(), text.len() as u64, origin_of)
            .map_err(|stop| stop.or_read(|e| ConfigError::file(e.to_string()).at(origin_of(0))))
    }

    /// Read the lines of `input` (about `size` bytes).
    fn read_lines(
        &mut self,
        input: impl std::io::Read + Send,
        size: u64,
        origin_of: impl Fn(usize) -> Origin,
    ) -> Result<(), parallel_parse::Stop<ConfigError>> {
        self.depth += 1;
        if self.depth > MAX_INCLUDE_DEPTH {
            return Err(parallel_parse::Stop::Take(
                ConfigError::bad(format!(
                    "configuration files nested more than {MAX_INCLUDE_DEPTH} deep"
                ))
                .at(origin_of(0)),
            ));
        }
        self.read_rule_lines(
            input,
            size,
            &["address", "local", "server"],
            |loader, n, raw| loader.read_line(raw, origin_of(n)),
        )?;
        self.depth -= 1;
        Ok(())
    }

    /// Read the lines of `input` (about `size` bytes) in order: plain domain-rule lines of
    /// `options` go straight into the rules (a block at a time, each block parsed in
    /// pieces across the cores), every other line to `other` with its number.
    fn read_rule_lines<E>(
        &mut self,
        input: impl std::io::Read + Send,
        size: u64,
        options: &[&str],
        mut other: impl FnMut(&mut Loader, usize, &str) -> Result<(), E>,
    ) -> Result<(), parallel_parse::Stop<E>> {
        let mut lines_before = 0;
        let mut first = true;
        parallel_parse::for_each_read_block(
            input,
            rule_block_bytes(),
            MAX_FILE_BYTES,
            |text, piece| domain_rules::parse_piece(text, piece, options),
            |text, _cut, pieces| {
                if std::mem::take(&mut first) {
                    // A block list of rules: room for as many domains as the first
                    // block promises for the whole file, so that a million do not grow
                    // the table step by step.
                    let scale = |n: usize| (n as u64 * size / text.len().max(1) as u64) as usize;
                    let rules = scale(pieces.iter().map(|p| p.rule_count()).sum());
                    if rules >= MANY_RULES {
                        let bytes = scale(pieces.iter().map(|p| p.key_bytes()).sum());
                        self.rules.reserve(rules, bytes);
                    }
                }
                for piece in &pieces {
                    let actions = self.rules.action_ids(piece);
                    let mut done = 0;
                    for (before, n, line) in piece.others() {
                        self.rules.add_parsed(piece, &actions, done..*before);
                        done = *before;
                        let line = String::from_utf8_lossy(&text[line.clone()]);
                        other(self, lines_before + n, &line)?;
                    }
                    self.rules
                        .add_parsed(piece, &actions, done..piece.rule_count());
                    lines_before += piece.lines();
                }
                Ok(())
            },
        )
    }

    /// Read one line of a config file (not a plain domain rule, which the caller took).
    fn read_line(&mut self, raw: &str, origin: Origin) -> Result<(), ConfigError> {
        let raw = truncate_line(raw);
        let line = match lexer::parse_line(raw) {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(msg) => return Err(ConfigError::bad(msg).at(origin)),
        };
        let Some((id, shape)) = options::by_long(&line.name) else {
            return Err(ConfigError::bad("bad option")
                .with_detail(line.name)
                .at(origin));
        };
        match (shape, &line.arg) {
            (Arg::None, Some(_)) => return Err(ConfigError::bad("extraneous parameter").at(origin)),
            (Arg::Required, None) => return Err(ConfigError::bad("missing parameter").at(origin)),
            _ => {}
        }
        if matches!(OPTIONS[id].long, "test" | "help" | "version") {
            // Command-line actions; dnsmasq ignores them in files.
            return Ok(());
        }
        self.apply(id, line.arg.as_deref(), &origin)
            .map_err(|e| locate(e, origin))
    }

    /// `conf-dir=<dir>[,<ignored suffix>...][,*<wanted suffix>...]`
    fn read_dir(&mut self, parts: &[String]) -> Result<(), ConfigError> {
        let Some(dir) = parts.first().filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        let mut wanted = Vec::new();
        let mut ignored = Vec::new();
        for p in &parts[1..] {
            match p.strip_prefix('*') {
                Some("") => {}
                Some(suffix) => wanted.push(suffix.to_string()),
                None if !p.is_empty() => ignored.push(p.clone()),
                None => {}
            }
        }
        let listing = std::fs::read_dir(dir).map_err(|e| {
            ConfigError::file(format!("cannot access directory {dir}: {}", io_reason(&e)))
        })?;
        let mut files = Vec::new();
        for entry in listing.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.is_empty()
                || name.ends_with('~')
                || name.starts_with('.')
                || (name.starts_with('#') && name.ends_with('#'))
            {
                continue;
            }
            let has = |s: &String| name.len() > s.len() && name.ends_with(s.as_str());
            if !wanted.is_empty() && !wanted.iter().any(has) {
                continue;
            }
            if ignored.iter().any(has) {
                continue;
            }
            let path = format!("{dir}/{name}");
            let meta = std::fs::metadata(&path).map_err(|e| {
                ConfigError::file(format!("cannot access {path}: {}", io_reason(&e)))
            })?;
            if meta.is_file() {
                files.push(path);
            }
        }
        files.sort();
        for f in files {
            self.read_file(&f)?;
        }
        Ok(())
    }

    /// `conf-script=<command>`: run it and read its output as a config file.
    fn read_script(&mut self, cmd: &str) -> Result<(), ConfigError> {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| ConfigError::file(format!("cannot execute {cmd}: {e}")))?;
        if !out.status.success() {
            return Err(
                ConfigError::bad(format!("{cmd} returns non-zero error code"))
                    .with_exit(ExitCode::ScriptFailed),
            );
        }
        let origin = || Origin::Script {
            command: cmd.to_string(),
        };
        self.read_lines(out.stdout.as_slice(), out.stdout.len() as u64, |_| origin())
            .map_err(|stop| stop.or_read(|e| ConfigError::file(e.to_string()).at(origin())))
    }
}

fn truncate_line(raw: &str) -> &str {
    if raw.len() <= MAX_LINE_BYTES {
        return raw;
    }
    let mut end = MAX_LINE_BYTES;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

/// Give an error the origin it came from, unless it already has one.
fn locate(e: ConfigError, origin: Origin) -> ConfigError {
    if e.origin == Origin::Whole && e.exit == ExitCode::Config {
        e.at(origin)
    } else {
        e
    }
}

/// The file at `path`, opened to be read, and its size: at most `MAX_FILE_BYTES`.
fn open_config_file(path: &str) -> Result<(std::fs::File, u64), ConfigError> {
    let file = std::fs::File::open(path).map_err(|e| cannot_read(path, &e))?;
    let size = file.metadata().map_or(0, |m| m.len());
    if size > MAX_FILE_BYTES {
        let too_big = std::io::Error::other(format!("larger than {MAX_FILE_BYTES} bytes"));
        return Err(cannot_read(path, &too_big));
    }
    Ok((file, size))
}

fn cannot_read(path: &str, e: &std::io::Error) -> ConfigError {
    ConfigError::file(format!("cannot read {path}: {}", io_reason(e)))
}

/// strerror's wording for the common cases, as dnsmasq prints them.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        }
    }
}

/// What a `--servers-file` gave: its lines as entries, but for the domain rules, which
/// are in `rules` (to be read after the configuration's).
pub struct ServersFile {
    pub entries: Vec<Entry>,
    pub rules: domain_rules::Builder,
}

/// Read a `--servers-file`: only `server=` and `rev-server=` lines are allowed, and a bad
/// line is reported and skipped rather than stopping the server, as in dnsmasq.
pub fn read_servers_file(path: &str) -> Result<(ServersFile, Vec<ConfigError>), ConfigError> {
    let (file, size) = open_config_file(path)?;
    let mut loader = Loader::new();
    let mut errors = Vec::new();
    let read = loader.read_rule_lines(file, size, &["server"], |loader, n, raw| {
        let origin = Origin::File {
            path: path.to_string(),
            line: n,
        };
        let line = match lexer::parse_line(truncate_line(raw)) {
            Ok(Some(line)) => line,
            Ok(None) => return Ok::<(), ()>(()),
            Err(msg) => {
                errors.push(ConfigError::bad(msg).at(origin));
                return Ok(());
            }
        };
        let result = match options::by_long(&line.name) {
            Some((id, Arg::Required)) if matches!(OPTIONS[id].long, "server" | "rev-server") => {
                match &line.arg {
                    Some(arg) => loader.apply(id, Some(arg), &origin),
                    None => Err(ConfigError::bad("missing parameter")),
                }
            }
            Some(_) => Err(ConfigError::bad("illegal option")),
            None => Err(ConfigError::bad("bad option")),
        };
        if let Err(e) = result {
            errors.push(locate(e, origin));
        }
        Ok(())
    });
    if let Err(parallel_parse::Stop::Read(e)) = read {
        return Err(cannot_read(path, &e));
    }
    let file = ServersFile {
        entries: loader.config.entries,
        rules: loader.rules,
    };
    Ok((file, errors))
}

/// Read the command line (without the program name) and the config files it implies.
pub fn load(args: &[String]) -> Result<Command, ConfigError> {
    if args.first().map(String::as_str) == Some("--help")
        || args.first().map(String::as_str) == Some("-w")
    {
        let text = match args.get(1).map(String::as_str) {
            Some("dhcp") if args.len() == 2 => {
                crate::dhcp::option_catalog::listing(crate::dhcp::option_catalog::V4, false)
            }
            Some("dhcp6") if args.len() == 2 => {
                crate::dhcp::option_catalog::listing(crate::dhcp::option_catalog::V6, true)
            }
            _ => help::usage(),
        };
        return Ok(Command::Print(text));
    }
    let (cli_options, leftover) = cli::parse(args)?;
    let mut loader = Loader::new();
    let mut conf_file: Option<Option<String>> = None;
    let mut test = false;
    let conf_id = options::id("conf-file");
    for o in &cli_options {
        match OPTIONS[o.id].long {
            "help" => return Ok(Command::Print(help::usage())),
            "version" => return Ok(Command::Print(help::version())),
            "test" => test = true,
            _ if o.id == conf_id && conf_file.is_none() => conf_file = Some(o.arg.clone()),
            _ => loader
                .apply(o.id, o.arg.as_deref(), &Origin::CommandLine)
                .map_err(|e| locate(e, Origin::CommandLine))?,
        }
    }
    if leftover.iter().any(|w| !w.trim().is_empty()) {
        return Err(ConfigError::bad("junk found in command line").with_detail(leftover.join(" ")));
    }
    match conf_file {
        Some(Some(path)) => loader.read_file(&path)?,
        Some(None) => {}
        None => {
            if Path::new(DEFAULT_CONF_FILE).exists() {
                loader.read_file(DEFAULT_CONF_FILE)?;
            }
        }
    }
    let config = loader.finish();
    check_whole(&config)?;
    if test {
        return Ok(Command::TestOk);
    }
    Ok(Command::Run(Box::new(config)))
}

/// Checks dnsmasq makes once every option is read.
fn check_whole(config: &Config) -> Result<(), ConfigError> {
    check_cname_loops(config)?;
    let resolv_files: Vec<Option<String>> = config
        .values("resolv-file")
        .map(|v| match v {
            Value::Text(t) => t.clone(),
            _ => None,
        })
        .collect();
    let no_resolv = config.has("no-resolv");
    let named: Vec<&String> = resolv_files.iter().flatten().collect();
    let resolv_count = if resolv_files.is_empty() {
        1
    } else {
        named.len()
    };
    if !no_resolv && resolv_count > 1 && config.has("no-poll") {
        return Err(ConfigError::bad(
            "only one resolv.conf file allowed in no-poll mode.",
        ));
    }
    let domain_from_resolv = config
        .values("domain")
        .any(|v| matches!(v, Value::Domain { name: None, .. }));
    let mut have_domain = config.values("domain").any(|v| {
        matches!(
            v,
            Value::Domain {
                name: Some(_),
                range: None,
                ..
            }
        )
    });
    if domain_from_resolv {
        if no_resolv || resolv_count != 1 {
            return Err(ConfigError::bad(
                "must have exactly one resolv.conf to read domain from.",
            ));
        }
        let path = named
            .first()
            .map(|s| s.as_str())
            .unwrap_or(DEFAULT_RESOLV_FILE);
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::file(format!("failed to read {path}: {}", io_reason(&e))))?;
        let found = text.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some("search") && words.next().and_then(values::domain).is_some()
        });
        if !found {
            return Err(
                ConfigError::bad(format!("no search directive found in {path}"))
                    .with_exit(ExitCode::Other),
            );
        }
        have_domain = true;
    }
    if !have_domain && config.has("dhcp-fqdn") {
        return Err(ConfigError::bad(
            "there must be a default domain when --dhcp-fqdn is set",
        ));
    }
    Ok(())
}

fn check_cname_loops(config: &Config) -> Result<(), ConfigError> {
    let mut edges: Vec<(String, String)> = Vec::new();
    for v in config.values("cname") {
        if let Value::Cname {
            aliases, target, ..
        } = v
        {
            for a in aliases {
                edges.push((a.to_ascii_lowercase(), target.to_ascii_lowercase()));
            }
        }
    }
    for (start, _) in edges.iter().rev() {
        let mut at = start.clone();
        let mut steps = 0;
        while let Some((_, next)) = edges.iter().find(|(a, _)| *a == at) {
            steps += 1;
            if steps > edges.len() {
                return Err(ConfigError::bad(format!("CNAME loop involving {start}")));
            }
            at = next.clone();
        }
    }
    Ok(())
}

/// A path that is a directory (of hosts files, `--dhcp-hostsfile`s, ...) stands for the
/// files in it, in name order, hidden and backup (`~`) files left out; any other path
/// stands for itself.
pub fn expand_dir(path: &str) -> Vec<String> {
    match std::fs::read_dir(path) {
        Ok(entries) => {
            let mut files: Vec<String> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| {
                    !p.ends_with('~') && !p.rsplit('/').next().unwrap_or("").starts_with('.')
                })
                .collect();
            files.sort();
            files
        }
        Err(_) => vec![path.to_string()],
    }
}
