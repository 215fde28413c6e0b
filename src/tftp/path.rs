//! Which file a read request names, and whether it may be sent, as dnsmasq decides:
//! backslashes become slashes (and, with `--tftp-lowercase`, letters lower case), the
//! name goes under the TFTP root (a root of the interface's own first, then
//! `--tftp-root`'s), into the client's own directory under it where `--tftp-unique-root`
//! finds one, and with a root, a path through `/../` is refused.

use std::net::IpAddr;

/// dnsmasq builds the path in a buffer of this many bytes, NUL included.
const MAX_PATH_BYTES: usize = 1024;

/// `--tftp-unique-root`: the client's directory under the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueRoot {
    /// By address, as `1.2.3.4`.
    Ip,
    /// By hardware address, as `01-02-03-04-aa-bb`.
    Mac,
}

/// What the file a client asks for is looked up with.
#[derive(Clone, Debug, Default)]
pub struct Roots {
    /// `--tftp-root` without an interface (the last given).
    pub default: Option<String>,
    /// `--tftp-root=<dir>,<interface>` (the first given for an interface counts).
    pub per_interface: Vec<(String, String)>,
    pub unique: Option<UniqueRoot>,
    /// `--tftp-lowercase`.
    pub lowercase: bool,
}

/// The client, as far as the path depends on it.
pub struct Client<'a> {
    pub addr: IpAddr,
    /// Its hardware address, where known (its lease, or the neighbour table).
    pub mac: Option<[u8; 6]>,
    /// The interface the request came in on.
    pub interface: Option<&'a str>,
}

impl Roots {
    /// The root requests through `interface` are served from.
    pub fn root_for(&self, interface: Option<&str>) -> Option<&str> {
        let own = interface.and_then(|name| {
            self.per_interface
                .iter()
                .find(|(_, i)| i == name)
                .map(|(dir, _)| dir.as_str())
        });
        own.or(self.default.as_deref())
    }

    /// The path of the file `requested` names for `client`, and whether it was looked
    /// up under a root; `is_dir` says whether a client's own directory is there.
    pub fn file_path(
        &self,
        requested: &[u8],
        client: &Client,
        is_dir: impl Fn(&[u8]) -> bool,
    ) -> (Vec<u8>, bool) {
        let name: Vec<u8> = requested
            .iter()
            .map(|&b| match b {
                b'\\' => b'/',
                b if self.lowercase => b.to_ascii_lowercase(),
                b => b,
            })
            .collect();
        let mut name = &name[..];
        let root = self.root_for(client.interface);
        let mut path: Vec<u8> = b"/".to_vec();
        if let Some(root) = root {
            if root.starts_with('/') {
                path.clear();
            }
            push_capped(&mut path, root.as_bytes());
            if !root.ends_with('/') {
                push_capped(&mut path, b"/");
            }
            let own_dir = match (self.unique, client.mac) {
                (Some(UniqueRoot::Ip), _) => Some(client.addr.to_string()),
                (Some(UniqueRoot::Mac), Some(m)) => Some(format!(
                    "{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                )),
                _ => None,
            };
            if let Some(dir) = own_dir {
                let before = path.len();
                push_capped(&mut path, dir.as_bytes());
                push_capped(&mut path, b"/");
                if !is_dir(&path) {
                    path.truncate(before);
                }
            }
            // An absolute name is taken as it is where it lies under the root.
            if name.first() == Some(&b'/') {
                if name.starts_with(&path) {
                    path.clear();
                } else {
                    name = &name[1..];
                }
            }
        } else if name.first() == Some(&b'/') {
            path.clear();
        }
        push_capped(&mut path, name);
        (path, root.is_some())
    }
}

fn push_capped(path: &mut Vec<u8>, more: &[u8]) {
    let room = (MAX_PATH_BYTES - 1).saturating_sub(path.len());
    path.extend_from_slice(&more[..more.len().min(room)]);
}

/// Whether a path under a root climbs out of it (dnsmasq's test: it holds `/../`).
pub fn climbs_out(path: &[u8], under_root: bool) -> bool {
    under_root && path.windows(4).any(|w| w == b"/../")
}

/// Whether an opened file may be sent: as root, only a world-readable one; with
/// `--tftp-secure`, only one owned by the server's user.
pub fn may_send(mode: u32, owner: u32, server_uid: u32, secure: bool) -> bool {
    if server_uid == 0 {
        mode & 0o004 != 0
    } else {
        !secure || owner == server_uid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(addr: &str) -> Client<'static> {
        Client {
            addr: addr.parse().unwrap(),
            mac: Some([1, 2, 3, 4, 0xaa, 0xbb]),
            interface: Some("eth0"),
        }
    }

    fn path(roots: &Roots, requested: &str) -> String {
        let (p, _) = roots.file_path(requested.as_bytes(), &client("10.0.0.9"), |_| false);
        String::from_utf8(p).unwrap()
    }

    fn rooted(dir: &str) -> Roots {
        Roots {
            default: Some(dir.into()),
            ..Roots::default()
        }
    }

    #[test]
    fn names_go_under_the_root() {
        let r = rooted("/srv/tftp");
        assert_eq!(path(&r, "pxelinux.0"), "/srv/tftp/pxelinux.0");
        assert_eq!(path(&r, "/etc/hostname"), "/srv/tftp/etc/hostname");
        assert_eq!(path(&r, "/srv/tftp/a"), "/srv/tftp/a");
        assert_eq!(path(&r, "boot\\x86\\Image"), "/srv/tftp/boot/x86/Image");
        assert_eq!(path(&rooted("/srv/tftp/"), "a"), "/srv/tftp/a");
        assert_eq!(path(&rooted("rel"), "a"), "/rel/a");
    }

    #[test]
    fn without_a_root_names_are_from_the_top() {
        let r = Roots::default();
        assert_eq!(path(&r, "etc/hostname"), "/etc/hostname");
        assert_eq!(path(&r, "/etc/hostname"), "/etc/hostname");
    }

    #[test]
    fn an_interfaces_root_comes_before_the_default() {
        let mut r = rooted("/srv/tftp");
        r.per_interface.push(("/srv/eth0".into(), "eth0".into()));
        r.per_interface.push(("/srv/eth1".into(), "eth1".into()));
        assert_eq!(path(&r, "a"), "/srv/eth0/a");
        assert_eq!(r.root_for(Some("eth2")), Some("/srv/tftp"));
    }

    #[test]
    fn a_clients_own_directory_where_it_is_there() {
        let mut r = rooted("/srv/tftp");
        r.unique = Some(UniqueRoot::Ip);
        let c = client("10.0.0.9");
        let (p, _) = r.file_path(b"a", &c, |d| d == b"/srv/tftp/10.0.0.9/");
        assert_eq!(p, b"/srv/tftp/10.0.0.9/a");
        assert_eq!(path(&r, "a"), "/srv/tftp/a");
        r.unique = Some(UniqueRoot::Mac);
        let (p, _) = r.file_path(b"a", &c, |_| true);
        assert_eq!(p, b"/srv/tftp/01-02-03-04-aa-bb/a");
    }

    #[test]
    fn lowercase_spares_nothing_but_letters() {
        let mut r = rooted("/srv/TFTP");
        r.lowercase = true;
        assert_eq!(path(&r, "Boot\\PXE.0"), "/srv/TFTP/boot/pxe.0");
    }

    #[test]
    fn climbing_out_is_refused_only_under_a_root() {
        assert!(climbs_out(b"/srv/tftp/../etc/passwd", true));
        assert!(!climbs_out(b"/srv/tftp/..", true));
        assert!(!climbs_out(b"/srv/../etc", false));
    }

    #[test]
    fn root_sends_only_world_readable_files() {
        assert!(may_send(0o644, 5, 0, true));
        assert!(!may_send(0o640, 0, 0, false));
        assert!(may_send(0o600, 7, 65534, false));
        assert!(!may_send(0o644, 7, 65534, true));
        assert!(may_send(0o600, 65534, 65534, true));
    }
}
