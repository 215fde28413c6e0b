//! dnsmasq's tags (its "network ids"): labels a DHCP request collects from where it came
//! in, what it carries and which `--dhcp-host` it matches, and that options, ranges, hosts
//! and `--dhcp-ignore` and friends then match on (`tag:name`, `tag:!name`).

use crate::config::values::TagMatch;

/// The tags one request carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    pub fn new() -> Tags {
        Tags::default()
    }

    pub fn set(&mut self, tag: &str) {
        if !self.has(tag) {
            self.0.push(tag.to_string());
        }
    }

    pub fn has(&self, tag: &str) -> bool {
        self.0.iter().any(|t| t == tag)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// dnsmasq's match_netid: every `tag:x` of `list` is set and no `tag:!x` is. An empty
    /// list matches only where `untagged_ok` (things without tags apply to everyone
    /// there, but are not "matched" where tagged ones take precedence).
    pub fn matches(&self, list: &[TagMatch], untagged_ok: bool) -> bool {
        if list.is_empty() {
            return untagged_ok;
        }
        list.iter().all(|m| self.has(&m.name) != m.negated)
    }

    /// As `matches`, with a `*` in a tag standing for any ending (`tag:ppp*`), as
    /// `--tag-if` allows. Empty lists match.
    fn matches_wild(&self, list: &[TagMatch]) -> bool {
        list.iter()
            .all(|m| self.iter().any(|t| wildcard_match(&m.name, t)) != m.negated)
    }
}

/// dnsmasq's wildcard_match: equal up to a `*` in `pattern`, which matches whatever
/// follows (but not nothing: `eth*` is not `eth`).
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    for (a, b) in p.iter().zip(n) {
        if *a == b'*' {
            return true;
        }
        if a != b {
            return false;
        }
    }
    p.len() == n.len()
}

/// One `--tag-if`: when all of `when` hold, the `set` tags are set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagIf {
    pub when: Vec<TagMatch>,
    pub set: Vec<String>,
}

/// `tags` with every `--tag-if` applied, in configuration order (so a rule sees the tags
/// earlier rules set).
pub fn run_tag_if(rules: &[TagIf], tags: &Tags) -> Tags {
    let mut out = tags.clone();
    for rule in rules {
        if out.matches_wild(&rule.when) {
            for t in &rule.set {
                out.set(t);
            }
        }
    }
    out
}

/// Which of `options` (number and tags of each, in configuration order) are sent, as
/// dnsmasq's option_filter chooses them: for each option number, one whose tags all
/// match the request's, those matched without the range's tag first; else the untagged
/// one; the last one configured where several qualify (dnsmasq keeps its options in a
/// list built backwards, and walks it from the front). `tags` are the request's tags
/// (tag-if rules applied to them here), `range_tag` the `set:` tag of the range it is
/// answered from. Returns a flag per option, and the tags in force (with the range's).
pub fn select_options(
    options: &[(u16, &[TagMatch])],
    rules: &[TagIf],
    tags: &Tags,
    range_tag: Option<&str>,
) -> (Vec<bool>, Tags) {
    let mut ok = vec![false; options.len()];
    let mut tagif = run_tag_if(rules, tags);
    for (i, (_, list)) in options.iter().enumerate() {
        ok[i] = tagif.matches(list, false);
    }
    if let Some(range) = range_tag {
        let mut with_range = tags.clone();
        with_range.set(range);
        tagif = run_tag_if(rules, &with_range);
        // A `tag:!x` that the range's tag now contradicts.
        for (i, (_, list)) in options.iter().enumerate() {
            if ok[i] && !tagif.matches(list, false) {
                ok[i] = false;
            }
        }
        for i in (0..options.len()).rev() {
            let (number, list) = options[i];
            if !ok[i] && tagif.matches(list, false) {
                let taken = options
                    .iter()
                    .zip(&ok)
                    .any(|((n, _), &o)| *n == number && o);
                ok[i] = !taken;
            }
        }
    }
    for i in (0..options.len()).rev() {
        let (number, list) = options[i];
        if !ok[i] && list.is_empty() {
            let taken = options
                .iter()
                .zip(&ok)
                .any(|((n, _), &o)| *n == number && o);
            ok[i] = !taken;
        }
    }
    // Of several chosen for one number, the last configured stays.
    for i in 0..options.len() {
        if ok[i]
            && options[i + 1..]
                .iter()
                .zip(&ok[i + 1..])
                .any(|((n, _), &o)| *n == options[i].0 && o)
        {
            ok[i] = false;
        }
    }
    (ok, tagif)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> TagMatch {
        TagMatch::new(s)
    }

    fn tags(names: &[&str]) -> Tags {
        let mut t = Tags::new();
        for n in names {
            t.set(n);
        }
        t
    }

    #[test]
    fn a_list_matches_when_every_tag_is_set_and_no_negated_one_is() {
        let t = tags(&["eth0", "known"]);
        assert!(t.matches(&[m("known")], false));
        assert!(t.matches(&[m("known"), m("eth0")], false));
        assert!(!t.matches(&[m("known"), m("printers")], false));
        assert!(t.matches(&[m("!printers")], false));
        assert!(!t.matches(&[m("!known")], false));
        assert!(!t.matches(&[], false));
        assert!(t.matches(&[], true));
    }

    #[test]
    fn tag_if_rules_run_in_order_with_wildcards() {
        let rules = [
            TagIf {
                when: vec![m("ppp*")],
                set: vec!["ppp".into()],
            },
            TagIf {
                when: vec![m("ppp"), m("!known")],
                set: vec!["stranger".into(), "dialup".into()],
            },
            TagIf {
                when: vec![],
                set: vec!["always".into()],
            },
        ];
        let out = run_tag_if(&rules, &tags(&["ppp3"]));
        for t in ["ppp3", "ppp", "stranger", "dialup", "always"] {
            assert!(out.has(t), "{t}");
        }
        let out = run_tag_if(&rules, &tags(&["eth0", "known"]));
        assert!(!out.has("ppp") && !out.has("stranger") && out.has("always"));
        assert!(wildcard_match("eth*", "eth0") && !wildcard_match("eth*", "eth"));
        assert!(!wildcard_match("eth0", "eth01") && wildcard_match("eth0", "eth0"));
    }

    #[test]
    fn options_tagged_and_matched_win_over_untagged_and_range_tagged_ones() {
        let none: &[TagMatch] = &[];
        let printers = [m("printers")];
        let lan = [m("lan")];
        let not_lan = [m("!lan")];
        let options: Vec<(u16, &[TagMatch])> = vec![
            (3, none),       // 0: untagged router
            (3, &printers),  // 1: printers' router
            (6, none),       // 2: untagged DNS
            (6, &lan),       // 3: the range's DNS
            (42, &not_lan),  // 4: NTP off the lan range
            (15, none),      // 5: an earlier domain
            (15, none),      // 6: a later domain, which wins
            (44, &printers), // 7: a tagged option nobody else has
            (44, &lan),      // 8: its range-tagged rival, which loses
        ];
        let (ok, tagif) = select_options(&options, &[], &tags(&["printers"]), Some("lan"));
        assert_eq!(
            ok,
            vec![false, true, false, true, false, false, true, true, false]
        );
        assert!(tagif.has("lan") && tagif.has("printers"));
        let (ok, _) = select_options(&options, &[], &tags(&[]), None);
        assert_eq!(
            ok,
            vec![true, false, true, false, true, false, true, false, false]
        );
    }
}
