//! Domain rules as read (`server=/d/...`, `local=/d/`, `address=/d/...`, and the
//! `server=` lines of a `--servers-file`): for each domain, what its lines said, combined as
//! dnsmasq combines them, kept compactly because a block list gives a million of them. A
//! `NameTable` maps each domain to one of the few distinct rules such lists hold.

use super::parse::{AddressAnswer, ServerTarget, Value};
use crate::dns::name_table::{self, Key, NameTable};
use crate::parallel_parse;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;

/// Most domains one table takes, so a hostile file cannot exhaust memory.
pub const MAX_RULE_DOMAINS: usize = 50_000_000;

/// What to do with names under a domain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DomainRule {
    /// `address=/d/1.2.3.4` (or `#`, which is 0.0.0.0 and ::).
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
    pub target: Option<RuleTarget>,
}

/// Where queries under a domain go when no address rule answers them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RuleTarget {
    /// `local=/d/` or `server=/d/`: answered locally; unknown names are NXDOMAIN.
    Local,
    /// `address=/d/`: NXDOMAIN for every name and type.
    NxDomain,
    /// `server=/d/ip`: these servers.
    Servers(Arc<[SocketAddr]>),
    /// `server=/d/#`: the default servers.
    Default,
}

/// Whether a `server`, `local` or `address` value is a rule for domains.
pub fn for_domains(value: &Value) -> bool {
    matches!(
        value,
        Value::Server {
            domains: Some(_),
            ..
        } | Value::Address { .. }
    )
}

/// What one source's lines for a domain said. Kinds combine whatever their order, as in
/// dnsmasq: `address=/d/` (NXDOMAIN) over `local=/d/` over `server=` lines; `server=`
/// lines among themselves and address lines among themselves in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Lines {
    /// The `server=` lines: a local or `#` line replaces what came before, an upstream
    /// address adds to the addresses before it.
    server: Option<RuleTarget>,
    /// No `server=` line replaced earlier ones: this source's addresses add to those of
    /// the sources read before it.
    adds: bool,
    local: bool,
    nxdomain: bool,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

impl Lines {
    fn apply(&mut self, action: &Action) {
        match action {
            Action::Local => self.local = true,
            Action::Server(target) => {
                let (next, adds) = match (target, self.server.take()) {
                    (ServerTarget::Local, _) => (RuleTarget::Local, false),
                    (ServerTarget::Resolv, _) => (RuleTarget::Default, false),
                    (ServerTarget::Upstream { addr, .. }, Some(RuleTarget::Servers(s))) => (
                        RuleTarget::Servers(s.iter().copied().chain([*addr]).collect()),
                        self.adds,
                    ),
                    (ServerTarget::Upstream { addr, .. }, None) => {
                        (RuleTarget::Servers(Arc::from([*addr])), true)
                    }
                    (ServerTarget::Upstream { addr, .. }, Some(_)) => {
                        (RuleTarget::Servers(Arc::from([*addr])), false)
                    }
                };
                self.server = Some(next);
                self.adds = adds;
            }
            Action::Address(answer) => match answer {
                AddressAnswer::NxDomain => self.nxdomain = true,
                AddressAnswer::Null => {
                    self.v4 = Some(Ipv4Addr::UNSPECIFIED);
                    self.v6 = Some(Ipv6Addr::UNSPECIFIED);
                }
                AddressAnswer::Addr(IpAddr::V4(a)) => self.v4 = Some(*a),
                AddressAnswer::Addr(IpAddr::V6(a)) => self.v6 = Some(*a),
            },
        }
    }

    /// The rule these lines give, read after `before` (an earlier source's rule for the
    /// same domain, if any).
    fn rule(&self, before: Option<&DomainRule>) -> DomainRule {
        let server = match (&self.server, before.and_then(|b| b.target.as_ref())) {
            (Some(RuleTarget::Servers(mine)), Some(RuleTarget::Servers(theirs))) if self.adds => {
                Some(RuleTarget::Servers(
                    theirs.iter().chain(mine.iter()).copied().collect(),
                ))
            }
            (Some(t), _) => Some(t.clone()),
            (None, earlier) => earlier.cloned(),
        };
        let target = if self.nxdomain {
            Some(RuleTarget::NxDomain)
        } else if self.local {
            Some(RuleTarget::Local)
        } else {
            server
        };
        DomainRule {
            v4: self.v4.or(before.and_then(|b| b.v4)),
            v6: self.v6.or(before.and_then(|b| b.v6)),
            target,
        }
    }
}

/// Domain rules by lower-case domain ("" for every name), and the rule for names
/// without a dot (`//`).
#[derive(Clone, Debug, Default)]
pub struct DomainRules {
    names: NameTable,
    /// Distinct rules; each domain's value indexes one.
    rules: Vec<DomainRule>,
    /// The lines each rule came from (empty for rules merged by `over`).
    lines: Vec<Lines>,
    dotless: Option<(DomainRule, Lines)>,
    /// How many domains have each of `lines` (empty for rules merged by `over`).
    domains: Vec<u32>,
    /// The records of the last `LAST_KEPT` domains given, in order.
    last: Vec<u32>,
    /// Domains left out: there were more than `MAX_RULE_DOMAINS`.
    pub dropped: usize,
}

impl DomainRules {
    /// The rule given for exactly `domain` (lower case, no trailing dot).
    pub fn get(&self, domain: &str) -> Option<&DomainRule> {
        self.get_key(&Key::new(domain.as_bytes())?)
    }

    /// The rule given for exactly the domain whose key is `key`.
    pub fn get_key(&self, key: &Key) -> Option<&DomainRule> {
        self.names
            .get_key(key.as_bytes(), key.hash())
            .map(|i| &self.rules[i as usize])
    }

    /// The rule for names without a dot.
    pub fn dotless(&self) -> Option<&DomainRule> {
        self.dotless.as_ref().map(|(r, _)| r)
    }

    /// Domains with a rule.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.dotless.is_none()
    }

    /// The rules of these lines' domains when they are read after `earlier` (a servers
    /// file after the configuration): look here first, then in `earlier`.
    pub fn over(&self, earlier: &DomainRules) -> DomainRules {
        let mut names = NameTable::with_small_values();
        names.reserve(self.names.len(), 0);
        let mut rules = Vec::new();
        let mut ids: HashMap<DomainRule, u32> = HashMap::new();
        for (at, value) in self.names.records() {
            let key = self.names.key_at(at);
            let hash = name_table::hash(key);
            let lines = &self.lines[value as usize];
            let before = earlier.names.get_key(key, hash);
            let rule = lines.rule(before.map(|i| &earlier.rules[i as usize]));
            let next = rules.len() as u32;
            let id = *ids.entry(rule.clone()).or_insert(next);
            if id == next {
                rules.push(rule);
            }
            // Keys come from a table within the same limits: none is refused.
            let _ = names.find_or_insert(key, hash, id);
        }
        names.shrink();
        DomainRules {
            names,
            rules,
            lines: Vec::new(),
            dotless: self.dotless.as_ref().map(|(_, lines)| {
                let rule = lines.rule(earlier.dotless());
                (rule, lines.clone())
            }),
            domains: Vec::new(),
            last: Vec::new(),
            dropped: self.dropped,
        }
    }
}

/// The parts of a rule line of the plainest shape, `option=/domain/rest`: one of
/// `options` and one domain that the general reader takes as it is, but for case (it
/// does not start or end with a dot; labels of at most 63). None for any other line.
/// The domain's bytes are checked as its key is made (`name_table::is_packed`).
fn plain_parts<'t>(line: &'t [u8], options: &[&str]) -> Option<(&'t [u8], &'t [u8], &'t [u8])> {
    let eq = line.iter().take(8).position(|&b| b == b'=')?;
    let (option, arg) = (&line[..eq], &line[eq + 1..]);
    if !options.iter().any(|o| same_bytes(o.as_bytes(), option)) {
        return None;
    }
    let arg = arg.strip_prefix(b"/")?;
    let end = parallel_parse::find_byte(arg, b'/')?;
    let domain = &arg[..end];
    let labels_fit = domain.len() <= 63 || domain.split(|&b| b == b'.').all(|l| l.len() <= 63);
    let plain = !domain.is_empty()
        && domain.len() <= 253
        && domain[0] != b'.'
        && domain[domain.len() - 1] != b'.'
        && labels_fit;
    plain.then_some((option, domain, &arg[end + 1..]))
}

/// Whether two short byte strings are the same (inline, without a call to memcmp).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// What a plain line's option and rest say: nothing, `#` or (for `address`) an address.
/// None for anything else, which is left to the general reader.
fn plain_action(option: &[u8], rest: &[u8]) -> Option<Action> {
    Some(match (option, rest) {
        (b"local", b"") => Action::Local,
        (b"server", b"") => Action::Server(ServerTarget::Local),
        (b"server", b"#") => Action::Server(ServerTarget::Resolv),
        (b"address", b"") => Action::Address(AddressAnswer::NxDomain),
        (b"address", b"#") => Action::Address(AddressAnswer::Null),
        (b"address", addr)
            if addr
                .iter()
                .all(|b| b.is_ascii_hexdigit() || *b == b'.' || *b == b':') =>
        {
            let addr = std::str::from_utf8(addr).ok()?.parse::<IpAddr>().ok()?;
            Action::Address(AddressAnswer::Addr(addr))
        }
        _ => return None,
    })
}

/// A plain rule line, parsed: its domain's key (in `Piece::keys`), the key's hash, and
/// its action (an index into `Piece::actions`).
#[derive(Clone, Copy, Debug)]
struct Parsed {
    hash: u64,
    at: u32,
    len: u16,
    action: u16,
}

/// What parsing one piece of a file's lines gave: its plain rule lines ready for the
/// table, and the other lines for the general reader.
#[derive(Debug, Default)]
pub struct Piece {
    keys: Vec<u8>,
    rules: Vec<Parsed>,
    actions: Vec<Action>,
    /// The other lines: how many of `rules` come before each, its number within the
    /// piece (from 1), and where its text is (without a trailing `\r`).
    others: Vec<(usize, usize, Range<usize>)>,
    lines: usize,
}

impl Piece {
    /// Lines for the general reader, in order: how many parsed rules come before each,
    /// its number within the piece (from 1), and where its text is in the text parsed.
    pub fn others(&self) -> &[(usize, usize, Range<usize>)] {
        &self.others
    }

    /// Plain rule lines parsed.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Bytes the keys of its rules take.
    pub fn key_bytes(&self) -> usize {
        self.keys.len()
    }

    /// Lines in the piece.
    pub fn lines(&self) -> usize {
        self.lines
    }

    fn key(&self, p: &Parsed) -> &[u8] {
        &self.keys[p.at as usize..p.at as usize + p.len as usize]
    }
}

/// Parse the whole lines `piece` of `text` as `str::lines` cuts them: the plain lines of
/// `options` (see `plain_parts`) into keys and actions, the rest kept for the general
/// reader. Pure, so pieces of a big file are parsed on all cores at once.
pub fn parse_piece(text: &[u8], piece: Range<usize>, options: &[&str]) -> Piece {
    let mut p = Piece {
        keys: Vec::with_capacity(piece.len() / 2),
        rules: Vec::with_capacity(piece.len() / TYPICAL_LINE_BYTES),
        ..Default::default()
    };
    let at = piece.start;
    let bytes = &text[piece];
    // Block lists repeat a few actions: the first few are looked up by their text (as a
    // number) one by one, any more in a map.
    let mut few: Vec<(u128, u16)> = Vec::new();
    let mut many: HashMap<(&[u8], &[u8]), u16> = HashMap::new();
    let mut start = 0;
    while start < bytes.len() {
        let end =
            parallel_parse::find_byte(&bytes[start..], b'\n').map_or(bytes.len(), |n| start + n);
        p.lines += 1;
        let raw = &bytes[start..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text_line = at + start..at + start + line.len();
        start = end + 1;
        let parts = (line.len() <= super::MAX_LINE_BYTES)
            .then(|| plain_parts(line, options))
            .flatten();
        let Some((option, domain, rest)) = parts else {
            p.others.push((p.rules.len(), p.lines, text_line.clone()));
            continue;
        };
        let short = (rest.len() <= 15).then(|| {
            let word = rest
                .iter()
                .enumerate()
                .fold(0u128, |w, (i, &b)| w | u128::from(b) << (8 * i));
            word | (option.len() as u128) << 120
        });
        let known = match short.and_then(|w| few.iter().find(|(s, _)| *s == w)) {
            Some(&(_, id)) => Some(id),
            None => many.get(&(option, rest)).copied(),
        };
        let fresh = match known {
            Some(_) => None,
            None => plain_action(option, rest).filter(|_| p.actions.len() < u16::MAX as usize),
        };
        let action = match (known, fresh) {
            (Some(id), _) => id,
            (None, Some(a)) => {
                let id = p.actions.len() as u16;
                p.actions.push(a);
                match short.filter(|_| few.len() < FEW_ACTIONS) {
                    Some(w) => few.push((w, id)),
                    None => {
                        many.insert((option, rest), id);
                    }
                }
                id
            }
            (None, None) => {
                p.others.push((p.rules.len(), p.lines, text_line.clone()));
                continue;
            }
        };
        let at = p.keys.len();
        // A plain domain is at most 253 bytes: its key always fits. One with bytes that
        // do not pack (a space, a star, ...) is left to the general reader.
        name_table::encode(domain, &mut p.keys);
        if !name_table::is_packed(&p.keys[at..]) {
            p.keys.truncate(at);
            p.others.push((p.rules.len(), p.lines, text_line.clone()));
            continue;
        }
        p.rules.push(Parsed {
            hash: name_table::hash(&p.keys[at..]),
            at: at as u32,
            len: (p.keys.len() - at) as u16,
            action,
        });
    }
    p
}

/// A block list's line is about this long (`address=/ads.example.com/0.0.0.0`).
const TYPICAL_LINE_BYTES: usize = 32;

/// Actions a piece looks up one by one before it keeps them in a map.
const FEW_ACTIONS: usize = 32;

/// Transitions `Builder` remembers.
const MAX_RECENT: usize = 8;

/// The last domains given that `DomainRules::listed_last` lists: enough for dnsmasq's
/// listing at start to reach its limits in any but a list of mostly local domains.
const LAST_KEPT: usize = 64;

/// What a rule line does, whatever its domains.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Action {
    /// `local=/d/`.
    Local,
    /// `server=/d/...`.
    Server(ServerTarget),
    /// `address=/d/...`.
    Address(AddressAnswer),
}

/// How dnsmasq speaks of a domain's rule when it lists its servers at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listed {
    /// `local=/d/`, `server=/d/` or `address=/d/`: "using only locally-known addresses".
    LocalOnly,
    /// `server=/d/#`: "using standard nameservers".
    Standard,
    /// `address=/d/<address>`: counted among the servers listed, never named.
    Address,
}

impl Lines {
    /// What dnsmasq lists for these lines (upstream servers are listed from the lines
    /// themselves, not here).
    fn listed(&self) -> [Option<Listed>; 4] {
        let local = self.local || self.nxdomain || self.server == Some(RuleTarget::Local);
        let standard = self.server == Some(RuleTarget::Default);
        let null = self.v4 == Some(Ipv4Addr::UNSPECIFIED) && self.v6 == Some(Ipv6Addr::UNSPECIFIED);
        [
            local.then_some(Listed::LocalOnly),
            standard.then_some(Listed::Standard),
            self.v4.is_some().then_some(Listed::Address),
            (self.v6.is_some() && !null).then_some(Listed::Address),
        ]
    }
}

/// How many of each kind of line `DomainRules::listed` gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListedCount {
    /// `Listed::LocalOnly`.
    pub local_only: usize,
    /// The others.
    pub other: usize,
}

impl ListedCount {
    /// Count `n` more lines of `kind`.
    pub fn add(&mut self, kind: Listed, n: usize) {
        match kind {
            Listed::LocalOnly => self.local_only += n,
            Listed::Standard | Listed::Address => self.other += n,
        }
    }
}

impl DomainRules {
    /// Every domain's rules as dnsmasq lists them at start, the domain given last first
    /// (names without a dot are not listed): the record of each domain, for `domain_at`.
    /// This walks every domain; `listed_last` and `listed_count` spare a million-domain
    /// list that walk where what follows is only counted.
    pub fn listed(&self) -> impl Iterator<Item = (u32, Listed)> + '_ {
        let mut records: Vec<(u32, u32)> = Vec::with_capacity(self.names.len());
        records.extend(self.names.records());
        self.listed_of(records.into_iter().rev())
    }

    /// The start of `listed`: the lines of the last domains given (up to `LAST_KEPT`).
    pub fn listed_last(&self) -> impl Iterator<Item = (u32, Listed)> + '_ {
        let records = self.last.iter().rev();
        self.listed_of(records.map(|&at| (at, self.names.value_at(at))))
    }

    /// The rest of `listed`, after `listed_last`.
    pub fn listed_rest(&self) -> impl Iterator<Item = (u32, Listed)> + '_ {
        let first_kept = self.last.first().copied().unwrap_or(u32::MAX);
        self.listed().filter(move |&(at, _)| at < first_kept)
    }

    /// The lines listed for `records` (offset and value), in their order.
    fn listed_of<'a>(
        &'a self,
        records: impl Iterator<Item = (u32, u32)> + 'a,
    ) -> impl Iterator<Item = (u32, Listed)> + 'a {
        let kinds = self.kinds();
        records.flat_map(move |(at, value)| {
            let listed = kinds.get(value as usize).copied().unwrap_or_default();
            listed.into_iter().flatten().map(move |kind| (at, kind))
        })
    }

    /// What each distinct `Lines` lists, worked out once rather than per domain.
    fn kinds(&self) -> Vec<[Option<Listed>; 4]> {
        self.lines.iter().map(Lines::listed).collect()
    }

    /// How many lines of each kind `listed` gives, without walking the domains.
    pub fn listed_count(&self) -> ListedCount {
        let mut count = ListedCount::default();
        for (kinds, &domains) in self.kinds().iter().zip(&self.domains) {
            for &kind in kinds.iter().flatten() {
                count.add(kind, domains as usize);
            }
        }
        count
    }

    /// The domain of record `at` (from `listed`).
    pub fn domain_at(&self, at: u32) -> String {
        self.names.name_at(at)
    }
}

/// Builds `DomainRules` from rule lines in the order read.
pub struct Builder {
    names: NameTable,
    /// Distinct `Lines` values, each domain's value indexing one.
    lines: Vec<Lines>,
    ids: HashMap<Lines, u32>,
    dotless: Option<Lines>,
    /// Actions seen, by id.
    actions: Vec<Action>,
    action_ids: HashMap<Action, u32>,
    /// Recent transitions (lines before, action id, lines after): a block list gives the
    /// same few over and over, and this spares hashing `Lines` for each.
    recent: Vec<(u32, u32, u32)>,
    /// How many domains have each of `lines`.
    domains: Vec<u32>,
    /// The records of the last `LAST_KEPT` domains added, in order.
    last: std::collections::VecDeque<u32>,
    /// Values added.
    values: usize,
    /// Domains left out: the table was full.
    pub dropped: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            names: NameTable::with_small_values(),
            lines: Vec::new(),
            ids: HashMap::new(),
            dotless: None,
            actions: Vec::new(),
            action_ids: HashMap::new(),
            recent: Vec::new(),
            domains: Vec::new(),
            last: std::collections::VecDeque::new(),
            values: 0,
            dropped: 0,
        }
    }
}

impl Builder {
    /// Make room for about `domains` more domains whose keys take about `key_bytes`.
    pub fn reserve(&mut self, domains: usize, key_bytes: usize) {
        self.names.reserve_keys(domains, key_bytes);
    }

    /// The ids here of `piece`'s actions, for `add_parsed`.
    pub fn action_ids(&mut self, piece: &Piece) -> Vec<u32> {
        piece.actions.iter().map(|a| self.action_id(a)).collect()
    }

    /// Add the plain rule lines `range` of `piece`, in order; `actions` are the ids of
    /// its actions (`action_ids`).
    pub fn add_parsed(&mut self, piece: &Piece, actions: &[u32], range: std::ops::Range<usize>) {
        let parsed = &piece.rules[range];
        for (i, p) in parsed.iter().enumerate() {
            if let Some(ahead) = parsed.get(i + name_table::PREFETCH_AHEAD) {
                self.names.prefetch(ahead.hash);
            }
            self.values += 1;
            self.apply(piece.key(p), p.hash, actions[p.action as usize]);
        }
    }

    /// How many values were added (lines read).
    pub fn lines_read(&self) -> usize {
        self.values
    }

    /// Apply a value of the `server`, `local` or `address` option (`option`) to each of
    /// its domains.
    pub fn add(&mut self, option: &str, value: &Value) {
        self.values += 1;
        let (domains, action) = match value {
            Value::Server {
                domains: Some(d), ..
            } if option == "local" => (d, Action::Local),
            Value::Server {
                domains: Some(d),
                target,
            } => (d, Action::Server(target.clone())),
            Value::Address { domains, answer } => (domains, Action::Address(answer.clone())),
            _ => return,
        };
        let id = self.action_id(&action);
        for d in domains {
            match d {
                None => self
                    .dotless
                    .get_or_insert_with(Lines::default)
                    .apply(&action),
                Some(d) => match Key::new(d.as_bytes()) {
                    Some(key) => self.apply(key.as_bytes(), key.hash(), id),
                    // Longer than any name: it could never match.
                    None => self.dropped += 1,
                },
            }
        }
    }

    /// The id of `action` among those this builder has seen.
    fn action_id(&mut self, action: &Action) -> u32 {
        let next = self.actions.len() as u32;
        let id = *self.action_ids.entry(action.clone()).or_insert(next);
        if id == next {
            self.actions.push(action.clone());
        }
        id
    }

    fn apply(&mut self, key: &[u8], hash: u64, action: u32) {
        if self.names.len() >= MAX_RULE_DOMAINS {
            self.dropped += 1;
            return;
        }
        if self.lines.is_empty() {
            self.intern(Lines::default());
        }
        // Id 0 is the empty `Lines`, which a new domain starts from.
        let fresh = self.after(0, action);
        match self.names.find_or_insert(key, hash, fresh) {
            Ok(Err(new)) => {
                self.domains[fresh as usize] += 1;
                if self.last.len() == LAST_KEPT {
                    self.last.pop_front();
                }
                self.last.push_back(new);
            }
            Ok(Ok(at)) => {
                let before = self.names.value_at(at);
                let after = self.after(before, action);
                self.names.set_value(at, after);
                self.domains[before as usize] -= 1;
                self.domains[after as usize] += 1;
            }
            Err(_) => self.dropped += 1,
        }
    }

    /// The lines (by id) that `action` makes of the lines `before`.
    fn after(&mut self, before: u32, action: u32) -> u32 {
        let known = self
            .recent
            .iter()
            .find(|&&(b, a, _)| b == before && a == action);
        if let Some(&(_, _, after)) = known {
            return after;
        }
        let mut lines = self.lines[before as usize].clone();
        lines.apply(&self.actions[action as usize]);
        let after = self.intern(lines);
        if self.recent.len() == MAX_RECENT {
            self.recent.remove(0);
        }
        self.recent.push((before, action, after));
        after
    }

    fn intern(&mut self, lines: Lines) -> u32 {
        if let Some(&id) = self.ids.get(&lines) {
            return id;
        }
        let id = self.lines.len() as u32;
        self.lines.push(lines.clone());
        self.domains.push(0);
        self.ids.insert(lines, id);
        id
    }

    /// The rules the lines added give.
    pub fn finish(self) -> DomainRules {
        let mut names = self.names;
        names.shrink();
        DomainRules {
            names,
            rules: self.lines.iter().map(|l| l.rule(None)).collect(),
            lines: self.lines,
            dotless: self.dotless.map(|l| (l.rule(None), l)),
            domains: self.domains,
            last: self.last.into(),
            dropped: self.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rules(text: &str) -> Arc<DomainRules> {
        Config::from_text(text).expect("config").domain_rules
    }

    fn servers(list: &[&str]) -> Option<RuleTarget> {
        let addrs: Vec<SocketAddr> = list.iter().map(|a| a.parse().unwrap()).collect();
        Some(RuleTarget::Servers(addrs.into()))
    }

    #[test]
    fn address_beats_local_beats_server_in_any_order() {
        let r = rules(
            "address=/a.test/\nserver=/a.test/10.0.0.1\n\
             local=/b.test/\nserver=/b.test/10.0.0.1\n\
             server=/c.test/10.0.0.1\nlocal=/c.test/\n\
             server=/d.test/10.0.0.1\naddress=/d.test/192.0.2.1\n",
        );
        assert_eq!(r.get("a.test").unwrap().target, Some(RuleTarget::NxDomain));
        assert_eq!(r.get("b.test").unwrap().target, Some(RuleTarget::Local));
        assert_eq!(r.get("c.test").unwrap().target, Some(RuleTarget::Local));
        let d = r.get("d.test").unwrap();
        assert_eq!(d.v4, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(d.target, servers(&["10.0.0.1:53"]));
    }

    #[test]
    fn server_lines_add_addresses_until_one_replaces_them() {
        let r = rules(
            "server=/a.test/10.0.0.1\nserver=/a.test/10.0.0.2\n\
             server=/b.test/10.0.0.1\nserver=/b.test/#\n\
             server=/c.test/#\nserver=/c.test/10.0.0.3\n\
             address=/e.test/#\naddress=/e.test/::5\n",
        );
        assert_eq!(
            r.get("a.test").unwrap().target,
            servers(&["10.0.0.1:53", "10.0.0.2:53"])
        );
        assert_eq!(r.get("b.test").unwrap().target, Some(RuleTarget::Default));
        assert_eq!(r.get("c.test").unwrap().target, servers(&["10.0.0.3:53"]));
        let e = r.get("e.test").unwrap();
        assert_eq!(e.v4, Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(e.v6, Some("::5".parse().unwrap()));
        assert_eq!(
            r.get("x.a.test"),
            None,
            "only the domain itself: lookups walk the labels"
        );
    }

    #[test]
    fn several_domains_a_dotless_rule_and_every_name() {
        let r = rules("address=/one.test/two.test/0.0.0.0\nserver=//10.0.0.9\nlocal=/#/\n");
        assert_eq!(r.get("one.test"), r.get("two.test"));
        assert_eq!(r.dotless().unwrap().target, servers(&["10.0.0.9:53"]));
        assert_eq!(r.get("").unwrap().target, Some(RuleTarget::Local));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn plain_lines_read_as_the_general_reader_reads_them() {
        let lines = [
            "address=/ads.example.com/0.0.0.0",
            "address=/ads.example.com/::1",
            "address=/null.example/#",
            "address=/nx.example/",
            "local=/lan/",
            "server=/lan/10.0.0.1",
            "server=/home.example/",
            "server=/use-default.example/#",
            "address=/Mixed.Case.example/1.2.3.4",
            "address=/two.example/three.example/10.0.0.3",
            "server=/x-1.example/#\r",
            "address=/.lead.example/10.0.0.4",
            "address=/_srv.Upper.example/10.0.0.5",
            "address=/ümlaut.example/10.0.0.6",
            "local=/trailing.example./",
        ];
        let fast = Config::from_text(&lines.join("\n"))
            .expect("config")
            .domain_rules;
        let mut general = Builder::default();
        for line in lines {
            let line = line.trim_end_matches('\r');
            let (option, arg) = line.split_once('=').unwrap();
            let spec = &crate::config::options::OPTIONS[crate::config::options::id(option)];
            general.add(
                option,
                &crate::config::parse::parse(spec, Some(arg)).unwrap(),
            );
        }
        let general = general.finish();
        assert_eq!(fast.len(), general.len());
        for d in [
            "ads.example.com",
            "null.example",
            "nx.example",
            "lan",
            "home.example",
            "use-default.example",
            "mixed.case.example",
            "two.example",
            "three.example",
            "x-1.example",
            "lead.example",
            "_srv.upper.example",
            "ümlaut.example",
            "trailing.example",
        ] {
            assert_eq!(fast.get(d), general.get(d), "{d}");
            assert!(fast.get(d).is_some(), "{d}");
        }
        assert!(Config::from_text("address=/bad.example/300.1.1.1").is_err());
    }

    #[test]
    fn later_rules_read_over_the_configuration() {
        let config = rules("server=/a.test/10.0.0.1\naddress=/b.test/\nlocal=/c.test/\n");
        let mut file = Builder::default();
        for line in ["/a.test/10.0.0.2", "/b.test/#", "/d.test/10.0.0.4"] {
            let spec = &crate::config::options::OPTIONS[crate::config::options::id("server")];
            file.add(
                "server",
                &crate::config::parse::parse(spec, Some(line)).unwrap(),
            );
        }
        let later = file.finish().over(&config);
        assert_eq!(
            later.get("a.test").unwrap().target,
            servers(&["10.0.0.1:53", "10.0.0.2:53"])
        );
        assert_eq!(
            later.get("b.test").unwrap().target,
            Some(RuleTarget::Default)
        );
        assert_eq!(
            later.get("c.test"),
            None,
            "not in the later lines: the configuration's"
        );
        assert_eq!(
            later.get("d.test").unwrap().target,
            servers(&["10.0.0.4:53"])
        );
    }

    #[test]
    fn a_file_of_many_blocks_reads_as_its_lines_do() {
        // Lines of 20 bytes and more: two blocks at least, whatever the cores.
        let lines = (super::super::rule_block_bytes() / 10)
            .next_multiple_of(5)
            .max(160_000);
        let mut text = String::new();
        for i in 0..lines {
            let line = match i % 5 {
                0 => format!("address=/ads{i}.example.com/0.0.0.0\n"),
                // An upstream address: read by the general reader, in order with the rest.
                1 => format!("server=/ads{i}.example.com/10.0.{}.1\n", i % 250),
                2 => format!("local=/ads{i}.example.com/\n"),
                3 => format!("# comment {i}\n"),
                _ => format!("address=/ads{}.example.com/#\n", i - 3),
            };
            text.push_str(&line);
        }
        assert!(
            text.len() > 2 * super::super::rule_block_bytes(),
            "two blocks at least"
        );
        let r = rules(&text);
        assert_eq!(r.len(), 3 * lines / 5);
        let first = r.get("ads0.example.com").unwrap();
        assert_eq!((first.v4, first.v6), (Some(Ipv4Addr::UNSPECIFIED), None));
        let second = r.get("ads1.example.com").unwrap();
        assert_eq!(
            second.v6,
            Some(Ipv6Addr::UNSPECIFIED),
            "address=/d/# came later"
        );
        assert_eq!(second.target, servers(&["10.0.1.1:53"]));
        let last_server = lines - 4;
        assert_eq!(
            r.get(&format!("ads{last_server}.example.com"))
                .unwrap()
                .target,
            servers(&[&format!("10.0.{}.1:53", last_server % 250)])
        );
        assert_eq!(
            r.get(&format!("ads{}.example.com", lines - 3))
                .unwrap()
                .target,
            Some(RuleTarget::Local)
        );
        // An error's line counts from the start of the file, across pieces and blocks.
        let err = Config::from_text(&(text + "no-such-option\n")).unwrap_err();
        assert_eq!(
            err.origin,
            crate::config::error::Origin::File {
                path: "<text>".into(),
                line: lines + 1
            }
        );
    }
}
