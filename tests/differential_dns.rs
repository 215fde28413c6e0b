//! Differential DNS test: the real dnsmasq 2.90 and ringmasq run on the same configuration,
//! forwarding to the same scripted upstream, and get the same queries in the same order.
//! Their answers must agree: rcode, flags, EDNS, every section's records, and TTLs to
//! within a second (the two clocks tick separately). Skipped, with a message, where
//! dnsmasq is not installed; `.ci/run` installs it.

mod common;

use common::upstream::{self, ask_tcp, ask_udp};
use common::{free_port, Running};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, Record, RecordType};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");
const WAIT: Duration = Duration::from_secs(2);

fn config(dir: &Path, port: u16, upstream: u16, log: &str) -> String {
    format!(
        "port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
addn-hosts={hosts}
server=127.0.0.1#{upstream}
server=/fwd.example/127.0.0.1#{upstream}
server=/home.example/
server=/use-default.ads.test/#
rev-server=10.9.0.0/20,127.0.0.1#{upstream}
rev-server=192.168.77.0/24
domain=lan
expand-hosts
local-ttl=30
address=/ads.test/0.0.0.0
address=/null.test/#
address=/six.test/::1
address=/nx.test/
local=/lan/
host-record=hr.lan,hr2.lan,10.0.0.6,fd00::6,77
cname=al.lan,hr.lan
cname=al2.lan,ext.test,45
cname=chain.lan,al.lan
mx-host=mx.lan,hr.lan,5
srv-host=_ldap._tcp.lan,hr.lan,389,1,2
txt-record=txt.lan,\"v=spf1 a\",\"second\"
ptr-record=_http._tcp.lan,\"web._http._tcp.lan\"
naptr-record=naptr.lan,1,2,\"s\",\"http\",\"\",\"_http._tcp.lan\"
caa-record=caa.lan,0,issue,letsencrypt.org
dns-rr=raw.lan,65,000100
domain-needed
bogus-priv
neg-ttl=20
max-cache-ttl=250
pid-file=
user=root
keep-in-foreground
log-queries
log-facility={dir}/{log}
",
        hosts = dir.join("hosts").display(),
        dir = dir.display(),
    )
}

/// One query to send to both servers.
struct Case {
    name: String,
    qtype: RecordType,
    edns: bool,
    rd: bool,
    tcp: bool,
}

fn bytes_of(c: &Case, id: u16) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(c.rd);
    m.add_query(Query::query(Name::from_ascii(&c.name).unwrap(), c.qtype));
    if c.edns {
        let mut e = Edns::new();
        e.set_max_payload(4096);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |name: &str, qtype: RecordType, edns: bool, rd: bool, tcp: bool| {
        out.push(Case {
            name: name.to_string(),
            qtype,
            edns,
            rd,
            tcp,
        })
    };
    let local_names = [
        "alpha",
        "alpha.lan",
        "Beta.LAN",
        "beta",
        "hr.lan",
        "hr2.lan",
        "al.lan",
        "al2.lan",
        "chain.lan",
        "mx.lan",
        "_ldap._tcp.lan",
        "txt.lan",
        "_http._tcp.lan",
        "naptr.lan",
        "caa.lan",
        "raw.lan",
        "nope.lan",
        "ads.test",
        "x.ads.test",
        "null.test",
        "six.test",
        "nx.test",
        "y.nx.test",
        "z.home.example",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::SRV,
        RecordType::PTR,
        RecordType::NAPTR,
        RecordType::CAA,
        RecordType::Unknown(65),
        RecordType::CNAME,
    ];
    for (i, n) in local_names.iter().enumerate() {
        for t in types {
            add(n, t, i % 2 == 0, true, false);
        }
    }
    for rev in [
        "1.0.0.10.in-addr.arpa",
        "2.0.0.10.in-addr.arpa",
        "6.0.0.10.in-addr.arpa",
        "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
        "5.5.168.192.in-addr.arpa",
        "9.2.0.192.in-addr.arpa",
        "3.15.9.10.in-addr.arpa",
        "3.16.9.10.in-addr.arpa",
        "15.9.10.in-addr.arpa",
        "4.77.168.192.in-addr.arpa",
    ] {
        add(rev, RecordType::PTR, false, true, false);
    }
    // Forwarded names, each asked twice (the second from the cache where dnsmasq caches),
    // with and without EDNS, and once without recursion desired.
    let forwarded = [
        ("a1.test", RecordType::A),
        ("a1.test", RecordType::AAAA),
        ("A2.Test", RecordType::A),
        ("cn1.test", RecordType::A),
        ("cn2.test", RecordType::AAAA),
        ("nx1.test", RecordType::A),
        ("nod1.test", RecordType::AAAA),
        ("nod2.test", RecordType::MX),
        ("multi1.test", RecordType::A),
        ("mx1.test", RecordType::MX),
        ("t1.test", RecordType::TXT),
        ("fail1.test", RecordType::A),
        ("refuse1.test", RecordType::A),
        ("tc1.test", RecordType::A),
        ("priv1.test", RecordType::A),
        ("s1.test", RecordType::SRV),
        ("w.fwd.example", RecordType::A),
        ("u.use-default.ads.test", RecordType::A),
        ("plainname", RecordType::A),
        ("plainname", RecordType::MX),
    ];
    for (i, (n, t)) in forwarded.iter().enumerate() {
        add(n, *t, i % 2 == 1, true, false);
        add(n, *t, i % 2 == 1, true, false);
        add(&format!("e{n}"), *t, true, true, false);
        add(&format!("e{n}"), *t, false, true, false);
        add(&format!("r{n}"), *t, false, false, false);
    }
    for (n, t) in [
        ("alpha", RecordType::A),
        ("txt.lan", RecordType::TXT),
        ("a1.test", RecordType::A),
        ("tcp1.test", RecordType::A),
        ("tcp1.test", RecordType::A),
        ("tc1.test", RecordType::A),
        ("nx9.test", RecordType::A),
        ("mx.lan", RecordType::MX),
    ] {
        add(n, t, false, true, true);
    }
    out
}

/// What a client sees of a reply, with TTLs apart for a tolerant comparison.
#[derive(Debug, PartialEq)]
struct Seen {
    header: String,
    records: Vec<String>,
    ttls: Vec<u32>,
}

fn seen(reply: Option<Vec<u8>>) -> Option<Seen> {
    let bytes = reply?;
    let Ok(m) = Message::from_vec(&bytes) else {
        return Some(Seen {
            header: format!("undecodable {} bytes", bytes.len()),
            records: vec![],
            ttls: vec![],
        });
    };
    let header = format!(
        "{:?} aa={} tc={} rd={} ra={} edns={:?}",
        m.response_code(),
        m.authoritative(),
        m.truncated(),
        m.recursion_desired(),
        m.recursion_available(),
        m.extensions().as_ref().map(|e| e.max_payload())
    );
    let mut recs: Vec<(String, u32)> = Vec::new();
    let show = |section: &str, r: &Record| {
        (
            format!(
                "{section} {} {} {}",
                r.name().to_ascii().to_ascii_lowercase(),
                r.record_type(),
                r.data().map(|d| d.to_string()).unwrap_or_default()
            ),
            r.ttl(),
        )
    };
    recs.extend(m.answers().iter().map(|r| show("an", r)));
    recs.extend(m.name_servers().iter().map(|r| show("ns", r)));
    recs.extend(m.additionals().iter().map(|r| show("ar", r)));
    recs.sort();
    Some(Seen {
        header,
        records: recs.iter().map(|r| r.0.clone()).collect(),
        ttls: recs.iter().map(|r| r.1).collect(),
    })
}

fn agree(a: &Option<Seen>, b: &Option<Seen>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.header == b.header
                && a.records == b.records
                && a.ttls.iter().zip(&b.ttls).all(|(x, y)| x.abs_diff(*y) <= 1)
        }
        _ => false,
    }
}

fn start(program: &str, conf: &Path) -> Running {
    Running(
        Command::new(program)
            .arg("-C")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn wait_ready(port: u16) -> bool {
    let probe = bytes_of(
        &Case {
            name: "hr.lan".into(),
            qtype: RecordType::A,
            edns: false,
            rd: true,
            tcp: false,
        },
        1,
    );
    common::wait_until(|| ask_udp(port, &probe, Duration::from_millis(200)).is_some())
}

#[test]
fn ringmasq_answers_as_dnsmasq_does() {
    if Command::new("dnsmasq").arg("--version").output().is_err() {
        eprintln!("skipped: dnsmasq-base is not installed (.ci/run installs it)");
        return;
    }
    let dir = common::scratch_dir("differential-dns");
    std::fs::write(
        dir.join("hosts"),
        "10.0.0.1 alpha\n10.0.0.2 beta.lan beta\nfd00::1 alpha\n10.0.0.1 alpha-alias\n",
    )
    .unwrap();
    let up = upstream::start();
    let (theirs, ours) = (free_port(), free_port());
    std::fs::write(
        dir.join("dnsmasq.conf"),
        config(&dir, theirs, up.port, "dnsmasq.log"),
    )
    .unwrap();
    std::fs::write(
        dir.join("ringmasq.conf"),
        config(&dir, ours, up.port, "ringmasq.log"),
    )
    .unwrap();
    let _dnsmasq = start("dnsmasq", &dir.join("dnsmasq.conf"));
    let _ringmasq = start(RINGMASQ, &dir.join("ringmasq.conf"));
    assert!(wait_ready(theirs), "dnsmasq did not start");
    assert!(wait_ready(ours), "ringmasq did not start");

    let cases = cases();
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let mut differences = Vec::new();
    let mut tcp_batch: Vec<(&Case, Vec<u8>)> = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let q = bytes_of(c, 0x1000 + i as u16);
        if c.tcp {
            tcp_batch.push((c, q));
            continue;
        }
        let a = seen(ask_udp(theirs, &q, WAIT));
        let b = seen(ask_udp(ours, &q, WAIT));
        if !agree(&a, &b) {
            differences.push(format!(
                "{} {} edns={} rd={}:\n  dnsmasq:  {a:?}\n  ringmasq: {b:?}",
                c.name, c.qtype, c.edns, c.rd
            ));
        }
    }
    // The TCP cases go over one connection each, several queries per connection.
    let qs: Vec<Vec<u8>> = tcp_batch.iter().map(|(_, q)| q.clone()).collect();
    let a = ask_tcp(theirs, &qs, WAIT).expect("dnsmasq answers over TCP");
    let b = ask_tcp(ours, &qs, WAIT).expect("ringmasq answers over TCP");
    for (((c, _), x), y) in tcp_batch.iter().zip(a).zip(b) {
        let (x, y) = (seen(Some(x)), seen(Some(y)));
        if !agree(&x, &y) {
            differences.push(format!(
                "TCP {} {}:\n  dnsmasq:  {x:?}\n  ringmasq: {y:?}",
                c.name, c.qtype
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} queries differ:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
    // The --log-queries lines must match too. dnsmasq sends a query that got SERVFAIL or
    // REFUSED once more to the same server and logs that second `forwarded` line;
    // ringmasq does not retry a server that answered, so `forwarded` lines are compared
    // only where both logged them.
    let logged = assert_logs_agree(&dir);
    assert!(logged > cases.len(), "dnsmasq logged {logged} query lines");
}

/// The two servers' --log-queries lines must match line for line; returns how many.
fn assert_logs_agree(dir: &Path) -> usize {
    let (a, b) = (
        query_log(&dir.join("dnsmasq.log")),
        query_log(&dir.join("ringmasq.log")),
    );
    let differing: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("dnsmasq:  {x}\nringmasq: {y}"))
        .take(10)
        .collect();
    assert!(
        differing.is_empty() && a.len() == b.len(),
        "query logs differ ({} and {} lines):\n{}",
        a.len(),
        b.len(),
        differing.join("\n")
    );
    a.len()
}

/// The query-log lines of a log file, without timestamps, start-up lines, upstream ports
/// or `forwarded` lines. The addresses of one cached, hosts-file or configured answer are sorted: both
/// servers rotate them on every hit, but ringmasq keeps a rotation per shard (and which
/// shard a query reaches depends on its source port) where dnsmasq's order follows its
/// hash chains.
fn query_log(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once("]: ").map(|(_, rest)| rest))
        .filter(|l| {
            ["query[", "reply ", "cached ", "config ", "/"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| l.to_string())
        .collect();
    // The name of an address line of a cached, hosts-file or configured answer (one
    // answer's addresses may come from a hosts file and the configuration both).
    let owner = |l: &str| {
        let (head, data) = l.rsplit_once(" is ")?;
        let sourced = l.starts_with("cached ") || l.starts_with('/') || l.starts_with("config ");
        (sourced && data.parse::<std::net::IpAddr>().is_ok())
            .then(|| head.rsplit(' ').next().unwrap_or(head).to_string())
    };
    let mut i = 0;
    while i < lines.len() {
        let run = match owner(&lines[i]) {
            Some(o) => lines[i..]
                .iter()
                .take_while(|l| owner(l).as_ref() == Some(&o))
                .count(),
            None => 1,
        };
        lines[i..i + run].sort();
        i += run;
    }
    lines
}

/// Ask dnsmasq and ringmasq, both started on the same `options` (added to a base
/// configuration with one scripted upstream and --log-queries), each of `names` with and
/// without EDNS, each twice (the second from the cache where there is one); answers and
/// query logs must agree.
fn agree_on(test: &str, options: &str, names: &[(&str, RecordType)]) {
    agree_on_logged(test, options, names, true);
}

/// `agree_on`, with or without --log-queries (ringmasq answers some queries by another
/// path when they are not logged).
fn agree_on_logged(test: &str, options: &str, names: &[(&str, RecordType)], logged: bool) {
    let dir = common::scratch_dir(test);
    let up = upstream::start();
    let (theirs, ours) = (free_port(), free_port());
    let conf = |port: u16, log: &str| {
        format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n\
             server=127.0.0.1#{up}\nhost-record=hr.lan,10.0.0.6\n{options}\n\
             pid-file=\nuser=root\nkeep-in-foreground\n{logging}log-facility={}/{log}\n",
            dir.display(),
            up = up.port,
            logging = if logged { "log-queries\n" } else { "" },
        )
    };
    std::fs::write(dir.join("dnsmasq.conf"), conf(theirs, "dnsmasq.log")).unwrap();
    std::fs::write(dir.join("ringmasq.conf"), conf(ours, "ringmasq.log")).unwrap();
    let _dnsmasq = start("dnsmasq", &dir.join("dnsmasq.conf"));
    let _ringmasq = start(RINGMASQ, &dir.join("ringmasq.conf"));
    assert!(wait_ready(theirs), "dnsmasq did not start");
    assert!(wait_ready(ours), "ringmasq did not start");
    let mut differences = Vec::new();
    let mut id = 0x3000;
    for &(name, qtype) in names {
        for (edns, round) in [(false, 1), (true, 1), (false, 2)] {
            let c = Case {
                name: name.to_string(),
                qtype,
                edns,
                rd: true,
                tcp: false,
            };
            id += 1;
            let q = bytes_of(&c, id);
            let a = seen(ask_udp(theirs, &q, WAIT));
            let b = seen(ask_udp(ours, &q, WAIT));
            if !agree(&a, &b) {
                differences.push(format!(
                    "{name} {qtype} edns={edns} round {round}:\n  dnsmasq:  {a:?}\n  ringmasq: {b:?}"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} queries differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    if logged {
        assert_logs_agree(&dir);
    }
}

fn have_dnsmasq() -> bool {
    let there = Command::new("dnsmasq").arg("--version").output().is_ok();
    if !there {
        eprintln!("skipped: dnsmasq-base is not installed (.ci/run installs it)");
    }
    there
}

/// --ignore-address and --filterwin2k.
#[test]
fn ignore_address_and_filterwin2k_act_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    agree_on(
        "differential-filters",
        "ignore-address=192.0.2.3\nfilterwin2k",
        &[
            ("multi1.test", RecordType::A),
            ("srv.test", RecordType::SRV),
            ("a1.test", RecordType::A),
            ("a1.test", RecordType::AAAA),
            ("t1.test", RecordType::TXT),
            ("cn1.test", RecordType::A),
            ("nx1.test", RecordType::A),
            ("mx1.test", RecordType::MX),
            ("hr.lan", RecordType::AAAA),
            ("_ldap._tcp.dc.test", RecordType::SRV),
            ("zone.test", RecordType::SOA),
            ("_any.test", RecordType::ANY),
            ("plain.test", RecordType::ANY),
        ],
    );
}

/// --alias, --bogus-nxdomain and the record-type filters.
#[test]
fn alias_bogus_nxdomain_and_type_filters_act_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    agree_on(
        "differential-rewrites",
        "alias=192.0.2.1-192.0.2.2,100.64.0.0,255.255.255.0\nalias=192.0.2.53,100.64.9.53\n\
         bogus-nxdomain=198.51.100.0/24\nbogus-nxdomain=fd00::5\nfilter-AAAA\nfilter-rr=TXT,ANY",
        &[
            ("multi1.test", RecordType::A),
            ("cn1.test", RecordType::A),
            ("a2.test", RecordType::A),
            ("bogus1.test", RecordType::A),
            ("priv6x.test", RecordType::AAAA),
            ("a3.test", RecordType::AAAA),
            ("t2.test", RecordType::TXT),
            ("all1.test", RecordType::ANY),
            ("mx2.test", RecordType::MX),
            ("nx2.test", RecordType::A),
            ("hr.lan", RecordType::A),
        ],
    );
}

/// --stop-dns-rebind with --rebind-localhost-ok and --rebind-domain-ok; --alias is applied
/// before the check.
#[test]
fn rebind_protection_acts_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    agree_on(
        "differential-rebind",
        "stop-dns-rebind\nrebind-localhost-ok\nrebind-domain-ok=/ok.test/\n\
         alias=192.168.1.1,100.64.1.1\nfilter-rr=MX",
        &[
            ("a4.test", RecordType::A),
            ("a4.ok.test", RecordType::A),
            ("lo1.test", RecordType::A),
            ("priv1.test", RecordType::A),
            ("priv6y.test", RecordType::AAAA),
            ("mapped1.test", RecordType::AAAA),
            ("a5.test", RecordType::AAAA),
            ("t3.test", RecordType::TXT),
            ("cn2.test", RecordType::A),
            ("multi2.ok.test", RecordType::A),
            ("all2.test", RecordType::ANY),
            ("mx3.test", RecordType::MX),
            ("hr.lan", RecordType::A),
        ],
    );
}

/// --selfmx and --localmx (with and without --mx-target): hosts-file names get an MX.
#[test]
fn selfmx_and_localmx_act_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    let hosts_dir = common::scratch_dir("differential-mx-hosts");
    let hosts = hosts_dir.join("hosts");
    std::fs::write(
        &hosts,
        "10.1.0.9 alpha alpha.lan\n10.1.0.10 own\nfd00::9 six\n",
    )
    .unwrap();
    let names = [
        ("alpha", RecordType::MX),
        ("alpha.lan", RecordType::MX),
        ("alpha", RecordType::A),
        ("own", RecordType::MX),
        ("six", RecordType::MX),
        ("hr.lan", RecordType::MX),
        ("mx4.test", RecordType::MX),
    ];
    for (test, options) in [
        ("differential-selfmx", "selfmx"),
        ("differential-localmx", "localmx\nmx-target=mail.lan"),
    ] {
        let options = format!(
            "{options}\naddn-hosts={}\nmx-host=own,relay.lan,5",
            hosts.display()
        );
        agree_on(test, &options, &names);
    }
}

/// --synth-domain: dashed and sequential names, IPv4 and IPv6, forward and reverse.
#[test]
fn synth_domain_acts_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    agree_on(
        "differential-synth",
        "synth-domain=syn.lan,192.168.7.0/24,host-\n\
         synth-domain=seq.lan,10.5.0.10,10.5.0.20,n-*\n\
         synth-domain=six.lan,fd00::/120",
        &[
            ("host-192-168-7-56.syn.lan", RecordType::A),
            ("HOST-192-168-7-57.syn.lan", RecordType::A),
            ("host-192-168-7-56.syn.lan", RecordType::AAAA),
            ("host-192-168-8-1.syn.lan", RecordType::A),
            ("n-3.seq.lan", RecordType::A),
            ("n-11.seq.lan", RecordType::A),
            ("fd00--5.six.lan", RecordType::AAAA),
            ("56.7.168.192.in-addr.arpa", RecordType::PTR),
            ("13.0.5.10.in-addr.arpa", RecordType::PTR),
            (
                "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
                RecordType::PTR,
            ),
        ],
    );
}

/// --domain with a subnet and `local`: the domain and the subnet's reverse zones (a
/// prefix between label lengths widened to whole labels) are answered here only, as the
/// local= lines it stands for; with a range, `local` adds nothing.
#[test]
fn domain_with_local_acts_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    let six = |nibble: &str| {
        format!("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.{nibble}.0.0.0.2.0.0.0.1.0.0.0.0.0.a.2.ip6.arpa")
    };
    let (six_in, six_out) = (six("3"), six("4"));
    agree_on(
        "differential-domain-local",
        "domain=corp.test,20.20.0.0/20,local\n\
         domain=six.test,2a00:1:2::/62,local\n\
         domain=range.test,20.30.0.1,20.30.0.9,local",
        &[
            ("pc.corp.test", RecordType::A),
            ("corp.test", RecordType::MX),
            ("5.0.20.20.in-addr.arpa", RecordType::PTR),
            ("5.15.20.20.in-addr.arpa", RecordType::PTR),
            ("5.16.20.20.in-addr.arpa", RecordType::PTR),
            ("20.20.in-addr.arpa", RecordType::PTR),
            ("pc.six.test", RecordType::AAAA),
            (six_in.as_str(), RecordType::PTR),
            (six_out.as_str(), RecordType::PTR),
            ("pc.range.test", RecordType::A),
            ("5.0.30.20.in-addr.arpa", RecordType::PTR),
        ],
    );
}

/// The messages (what follows "]: ") `program` logs as `server` on `options` (a port on
/// loopback and a log file of its own added), read once `ready` holds of its log and,
/// after `then` has run with the server running, once `then_ready` holds too.
fn logged(
    dir: &Path,
    (server, program): (&str, &str),
    options: &str,
    ready: impl Fn(&str) -> bool,
    then: impl FnOnce(&Running),
    then_ready: impl Fn(&str) -> bool,
) -> Vec<String> {
    let port = free_port();
    let log = dir.join(format!("{server}.log"));
    let _ = std::fs::remove_file(&log);
    let conf = dir.join(format!("{server}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\n{options}\
             host-record=hr.lan,10.0.0.6\npid-file=\nuser=root\nkeep-in-foreground\n\
             log-facility={}\n",
            log.display()
        ),
    )
    .unwrap();
    let running = start(program, &conf);
    assert!(wait_ready(port), "{server} did not start");
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        common::wait_until(|| ready(&text())),
        "{server}: {}",
        text()
    );
    then(&running);
    assert!(
        common::wait_until(|| then_ready(&text())),
        "{server}: {}",
        text()
    );
    text()
        .lines()
        .filter_map(|l| l.split_once("]: ").map(|(_, m)| m.to_string()))
        .collect()
}

/// Both servers, dnsmasq first.
const BOTH: [(&str, &str); 2] = [("dnsmasq", "dnsmasq"), ("ringmasq", RINGMASQ)];

/// `logged` of both servers (dnsmasq's first), with no signal between, keeping the
/// messages that start with one of `kept`.
fn both_logged(
    dir: &Path,
    options: &str,
    ready: impl Fn(&str) -> bool + Copy,
    kept: &[&str],
) -> Vec<Vec<String>> {
    BOTH.iter()
        .map(|&both| {
            let mut lines = logged(dir, both, options, ready, |_| {}, ready);
            lines.retain(|m| kept.iter().any(|p| m.starts_with(p)));
            lines
        })
        .collect()
}

/// The servers and domain rules listed at start, as dnsmasq lists them: upstream servers
/// (plain, through an interface, for domains, for unqualified names, a --rev-server's
/// zones, the resolv file's after it is read), then the domain rules, the last given
/// first, with dnsmasq's limits and its counts of the rest.
#[test]
fn servers_are_listed_at_start_as_dnsmasq_lists_them() {
    if !have_dnsmasq() {
        return;
    }
    let dir = common::scratch_dir("differential-server-lines");
    std::fs::write(
        dir.join("resolv"),
        "nameserver 127.0.0.53\nnameserver ::1\n",
    )
    .unwrap();
    let mut options = String::from(
        "server=127.0.0.1#5300\nserver=127.0.0.7@lo\nserver=/x.test/y.test/::1\n\
         server=//127.0.0.4\nrev-server=10.9.0.0/20,127.0.0.1#5301\nrev-server=10.0.0.0/8\n\
         local=/a.test/b.test/\naddress=/nx.test/\naddress=/null.test/#\n\
         address=/ip.test/1.2.3.4\nserver=/def.test/#\nlocal=/*.wild.test/\n\
         domain=corp.test,20.20.0.0/22,local\n",
    );
    // More servers than are listed; more domains answered here only than are named.
    for i in 0..12 {
        options += &format!("server=/many{i}.test/127.0.0.2\nlocal=/l{i}.test/\n");
    }
    for i in 0..3 {
        options += &format!("server=/std{i}.test/#\n");
    }
    options += &format!("no-hosts\nresolv-file={}\n", dir.join("resolv").display());
    // Listed twice, the second time after the resolv file: done at its last line.
    let done = |log: &str| log.matches("more local addresses").count() == 2;
    let seen = both_logged(&dir, &options, done, &["using ", "more servers", "reading"]);
    assert_eq!(seen[0], seen[1], "dnsmasq's lines, then ringmasq's");
    for line in [
        "more servers are defined but not logged",
        "using only locally-known addresses for l11.test",
        "using standard nameservers for def.test",
        "using nameserver 127.0.0.1#5301 for domain 15.9.10.in-addr.arpa ",
    ] {
        assert!(seen[1].iter().any(|l| l == line), "{line}: {:?}", seen[1]);
    }
}

/// Of several resolv files only the one changed last is read, as dnsmasq reads them;
/// one not there is passed over, and one without servers said to be retried.
#[test]
fn the_resolv_file_changed_last_is_the_one_read() {
    if !have_dnsmasq() {
        return;
    }
    let dir = common::scratch_dir("differential-resolv-files");
    let file = |name: &str, text: &str, age_secs: u64| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let at = std::time::SystemTime::now() - Duration::from_secs(age_secs);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(at).unwrap();
        path.display().to_string()
    };
    let old = file("old", "nameserver 127.0.0.61\n", 100);
    let new = file("new", "nameserver 127.0.0.62\nnameserver ::1\n", 10);
    let empty = file("empty", "# none\n", 1);
    let missing = dir.join("missing").display().to_string();
    for (case, files) in [
        ("newer second", vec![&old, &new]),
        ("newer first", vec![&new, &old]),
        ("one missing", vec![&missing, &old]),
        ("the newest empty", vec![&old, &empty]),
    ] {
        let resolv: String = files.iter().map(|f| format!("resolv-file={f}\n")).collect();
        let options = format!("no-hosts\n{resolv}");
        let listed = |log: &str| log.contains("reading ") || log.contains("no servers found");
        let said = ["reading", "no servers", "using", "failed"];
        let seen = both_logged(&dir, &options, listed, &said);
        assert_eq!(seen[0], seen[1], "{case}: dnsmasq's lines, then ringmasq's");
        assert!(!seen[1].is_empty(), "{case}");
    }
}

/// What is logged at start and on SIGHUP, as dnsmasq logs it: the servers and the resolv
/// file at start only (SIGHUP reads neither again), the hosts files after the servers,
/// and "cleared cache" only where no hosts file is read. ringmasq's own additions (how
/// long a read or reload took, its version line) are set aside.
#[test]
fn start_and_sighup_log_what_dnsmasq_logs() {
    if !have_dnsmasq() {
        return;
    }
    let dir = common::scratch_dir("differential-sighup-lines");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "10.0.0.1 alpha\n10.0.0.2 beta gamma\n").unwrap();
    let resolv = dir.join("resolv");
    std::fs::write(&resolv, "nameserver 127.0.0.61\n").unwrap();
    let read = format!("read {} - 3 names", hosts.display());
    for (options, last) in [
        (
            "no-hosts\nno-resolv\nserver=127.0.0.1#1\n".to_string(),
            "cleared cache",
        ),
        (
            format!(
                "no-hosts\naddn-hosts={}\nresolv-file={}\nserver=/x.test/127.0.0.9\n\
                 local=/l.test/\n",
                hosts.display(),
                resolv.display()
            ),
            read.as_str(),
        ),
        // Under --no-poll the hosts files (or the cleared cache) come before the resolv
        // file's servers.
        (
            format!(
                "no-hosts\nno-poll\nresolv-file={}\nserver=127.0.0.1#1\n",
                resolv.display()
            ),
            "using nameserver 127.0.0.61#53",
        ),
        (
            format!(
                "no-hosts\nno-poll\naddn-hosts={}\nresolv-file={}\nserver=127.0.0.1#1\n",
                hosts.display(),
                resolv.display()
            ),
            "using nameserver 127.0.0.61#53",
        ),
    ] {
        let started = |log: &str| log.contains(last);
        let hup = |r: &Running| {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(r.0.id() as libc::pid_t, libc::SIGHUP) };
        };
        let reloaded = |log: &str| log.matches(last).count() == 2;
        let mut seen = Vec::new();
        for both in BOTH {
            let lines: Vec<String> = logged(&dir, both, &options, started, hup, reloaded)
                .into_iter()
                .filter(|m| {
                    !["started", "compile time", "reloaded in", "warning: option"]
                        .iter()
                        .any(|p| m.starts_with(p))
                })
                .map(|m| match m.rsplit_once(" (") {
                    Some((before, ms)) if m.starts_with("read ") && ms.ends_with(" ms)") => {
                        before.to_string()
                    }
                    _ => m,
                })
                .collect();
            seen.push(lines);
        }
        assert_eq!(seen[0], seen[1], "dnsmasq's lines, then ringmasq's");
    }
}

/// --interface-name and --dynamic-host on the loopback interface: its addresses, a family
/// limit, a missing interface, host parts on its network, and the reverse names.
#[test]
fn interface_name_acts_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    agree_on(
        "differential-interface-name",
        "interface-name=me.lan,lo\ninterface-name=me4.lan,lo/4\ninterface-name=gone.lan,nosuch0\n\
         dynamic-host=dyn.lan,0.0.0.8,::8,lo\ndynamic-host=dyn4.lan,0.0.1.9,lo",
        &[
            ("me.lan", RecordType::A),
            ("me.lan", RecordType::AAAA),
            ("me4.lan", RecordType::A),
            ("me4.lan", RecordType::AAAA),
            ("gone.lan", RecordType::A),
            ("me.lan", RecordType::MX),
            ("dyn.lan", RecordType::A),
            ("dyn.lan", RecordType::AAAA),
            ("dyn4.lan", RecordType::A),
            ("dyn4.lan", RecordType::AAAA),
            ("8.0.0.127.in-addr.arpa", RecordType::PTR),
            ("9.1.0.127.in-addr.arpa", RecordType::PTR),
            ("1.0.0.127.in-addr.arpa", RecordType::PTR),
            (
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
                RecordType::PTR,
            ),
        ],
    );
}

/// --localise-queries: of a hosts name's addresses, those on the querying interface's
/// subnet (here loopback's 127.0.0.0/8) are given, if there are any.
#[test]
fn localise_queries_acts_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    let hosts_dir = common::scratch_dir("differential-localise-hosts");
    let hosts = hosts_dir.join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.9 multi.lan\n10.99.0.1 multi.lan\n10.99.0.2 away.lan\n10.99.0.3 away.lan\n",
    )
    .unwrap();
    let options = format!("localise-queries\naddn-hosts={}", hosts.display());
    agree_on(
        "differential-localise",
        &options,
        &[("multi.lan", RecordType::A), ("away.lan", RecordType::A)],
    );
}

/// Hosts files in every shape block lists use (several names per line, IPv4 and IPv6,
/// 0.0.0.0 and ::, comments, blank lines, tabs, mixed case, bad lines), next to domain
/// rules and a --host-record for the same names; asked with and without --log-queries.
#[test]
fn block_list_hosts_files_answer_as_dnsmasq_does() {
    if !have_dnsmasq() {
        return;
    }
    let dir = common::scratch_dir("differential-blocklist-hosts");
    let hosts = dir.join("blocklist");
    std::fs::write(
        &hosts,
        "# generated block list\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n\n\
         0.0.0.0 ads.example.com\n127.0.0.1\tTRACK.Example.NET\n:: six.example.org\n\
         0.0.0.0 one.example.io two.example.io  # two names\n# section 7\n\
         0.0.0.0 dup.example.de\n0.0.0.0 dup.example.de\n10.1.1.1 multi.example\n\
         10.1.1.2 multi.example\nfd00::9 multi.example\nnot-an-address some.name\n\
         0.0.0.0 ok.example bad\x01name\n10.0.0.7 hr.lan\n0.0.0.0 x.rule.test\n\
         0.0.0.0 in.local.test\n   0.0.0.0\t\tindented.example  \n",
    )
    .unwrap();
    let options = format!(
        "addn-hosts={}\naddress=/rule.test/192.0.2.44\nlocal=/local.test/",
        hosts.display()
    );
    let names = [
        ("ads.example.com", RecordType::A),
        ("ads.example.com", RecordType::AAAA),
        ("ADS.Example.Com", RecordType::A),
        ("track.example.net", RecordType::A),
        ("six.example.org", RecordType::AAAA),
        ("six.example.org", RecordType::A),
        ("one.example.io", RecordType::A),
        ("two.example.io", RecordType::A),
        ("dup.example.de", RecordType::A),
        ("multi.example", RecordType::A),
        ("multi.example", RecordType::AAAA),
        ("multi.example", RecordType::MX),
        ("some.name", RecordType::A),
        ("ok.example", RecordType::A),
        ("hr.lan", RecordType::A),
        ("x.rule.test", RecordType::A),
        ("y.rule.test", RecordType::A),
        ("in.local.test", RecordType::A),
        ("other.local.test", RecordType::A),
        ("indented.example", RecordType::A),
        ("ip6-localhost", RecordType::AAAA),
        ("1.1.1.10.in-addr.arpa", RecordType::PTR),
        ("0.0.0.0.in-addr.arpa", RecordType::PTR),
    ];
    // A plain name under --domain-needed: NODATA if known here, else NXDOMAIN.
    std::fs::write(dir.join("plain"), "10.2.2.2 plain\n").unwrap();
    let plain = format!(
        "addn-hosts={}\ndomain-needed\nhost-record=hro,10.9.9.9",
        dir.join("plain").display()
    );
    let plain_names = [
        ("plain", RecordType::A),
        ("plain", RecordType::AAAA),
        ("hro", RecordType::AAAA),
        ("nothere", RecordType::AAAA),
    ];
    agree_on("differential-domain-needed", &plain, &plain_names);
    let options = options.as_str();
    agree_on_logged("differential-blocklist-logged", options, &names, true);
    agree_on_logged("differential-blocklist-quiet", options, &names, false);
}
