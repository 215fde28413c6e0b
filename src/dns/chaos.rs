//! Answers to CHAOS-class TXT queries in `bind.`, as dnsmasq gives them unless
//! `--no-ident`: who the server is, and its cache statistics. ringmasq names itself here
//! rather than pretend to be dnsmasq; the cache statistics are the answering shard's own,
//! the per-server counts summed over shards.

use std::net::SocketAddr;

/// The CHAOS class.
pub const CLASS_CHAOS: u16 = 3;

/// The figures CHAOS queries can ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// `--cache-size`, the total over shards.
    pub cache_size: u64,
    pub insertions: u64,
    pub evictions: u64,
    /// Queries forwarded.
    pub misses: u64,
    /// Queries answered from the cache or local data.
    pub hits: u64,
    /// Each upstream server in configuration order, with the queries sent to it and the
    /// queries it failed.
    pub servers: Vec<(SocketAddr, u64, u64)>,
}

/// The TXT strings for the CHAOS name `name` (lower case, no final dot), if it is one
/// dnsmasq answers: one string, or for `servers.bind` one per server
/// (`ADDR#PORT queries failed`).
pub fn text(name: &str, f: &Figures) -> Option<Vec<String>> {
    if name == "servers.bind" {
        return Some(
            f.servers
                .iter()
                .map(|(s, queries, failed)| format!("{}#{} {queries} {failed}", s.ip(), s.port()))
                .collect(),
        );
    }
    Some(vec![match name {
        "version.bind" => concat!("ringmasq-", env!("CARGO_PKG_VERSION")).to_string(),
        "authors.bind" => "the ringmasq developers".to_string(),
        "copyright.bind" => "ringmasq is free software; see its licence".to_string(),
        "cachesize.bind" => f.cache_size.to_string(),
        "insertions.bind" => f.insertions.to_string(),
        "evictions.bind" => f.evictions.to_string(),
        "misses.bind" => f.misses.to_string(),
        "hits.bind" => f.hits.to_string(),
        // No authoritative zones are served (--auth-server is not built yet).
        "auth.bind" => "0".to_string(),
        _ => return None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_have_text_and_others_none() {
        let f = Figures {
            cache_size: 150,
            hits: 8,
            ..Default::default()
        };
        let one = |name| text(name, &f).map(|t| t.join("|"));
        assert!(one("version.bind").unwrap().starts_with("ringmasq-"));
        assert_eq!(one("cachesize.bind").as_deref(), Some("150"));
        assert_eq!(one("hits.bind").as_deref(), Some("8"));
        let f = Figures {
            servers: vec![
                ("127.0.0.1:5399".parse().unwrap(), 3, 1),
                ("[::1]:53".parse().unwrap(), 0, 0),
            ],
            ..f
        };
        assert_eq!(
            text("servers.bind", &f).unwrap(),
            ["127.0.0.1#5399 3 1", "::1#53 0 0"]
        );
        assert_eq!(text("hostname.bind", &f), None);
        assert_eq!(text("version.server", &f), None);
    }
}
