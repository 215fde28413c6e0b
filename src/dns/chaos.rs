//! Answers to CHAOS-class TXT queries in `bind.`, as dnsmasq gives them unless
//! `--no-ident`: who the server is, and its cache statistics. ringmasq names itself here
//! rather than pretend to be dnsmasq; the statistics are the answering shard's own.

/// The CHAOS class.
pub const CLASS_CHAOS: u16 = 3;

/// The figures CHAOS queries can ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// `--cache-size`, the total over shards.
    pub cache_size: u64,
    pub insertions: u64,
    pub evictions: u64,
    /// Queries forwarded.
    pub misses: u64,
    /// Queries answered from the cache or local data.
    pub hits: u64,
}

/// The TXT text for the CHAOS name `name` (lower case, no final dot), if it is one dnsmasq
/// answers.
pub fn text(name: &str, f: &Figures) -> Option<String> {
    Some(match name {
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
    })
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
        assert!(text("version.bind", &f).unwrap().starts_with("ringmasq-"));
        assert_eq!(text("cachesize.bind", &f).as_deref(), Some("150"));
        assert_eq!(text("hits.bind", &f).as_deref(), Some("8"));
        assert_eq!(text("hostname.bind", &f), None);
        assert_eq!(text("version.server", &f), None);
    }
}
