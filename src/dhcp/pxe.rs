//! PXE as dnsmasq serves it: the boot menu of `--pxe-service` (and `--pxe-prompt`) in
//! the vendor options (43) of PXE clients' replies, proxy DHCP on a `proxy`
//! `--dhcp-range` (boot information only; another server gives the addresses), and the
//! boot server's answer to a client that picked a menu item. The replies themselves are
//! made in `v4`; this holds the configuration and builds the menu. No sockets here.

use super::tags::Tags;
use crate::config::parse::Value;
use crate::config::values::TagMatch;
use crate::config::Config;
use std::net::Ipv4Addr;

/// The port PXE clients send boot server requests to (and proxy DHCP requests, after
/// the first broadcast).
pub const PORT: u16 = 4011;

/// The vendor class PXE clients name themselves by where `--dhcp-pxe-vendor` names none.
const DEFAULT_VENDOR: &str = "PXEClient";

/// Boot server types dnsmasq gives the menu items that name a boot file, in order.
const FIRST_BOOT_TYPE: u16 = 32768;

/// Sub-options of the vendor option (43) for PXE (PXE 2.1 spec, table 2-1).
pub const DISCOVERY_CONTROL: u8 = 6;
pub const BOOT_SERVERS: u8 = 8;
pub const BOOT_MENU: u8 = 9;
pub const MENU_PROMPT: u8 = 10;
pub const BOOT_ITEM: u8 = 71;

/// The menu sub-option's data is at most this long (option 43 holds 255 bytes, less the
/// sub-option's own two).
const MAX_MENU_BYTES: usize = 253;

/// One `--pxe-service`: a boot menu item for clients of one system type.
#[derive(Clone, Debug)]
pub struct Service {
    pub tags: Vec<TagMatch>,
    /// The client system type (option 93) it is for.
    pub arch: u16,
    pub menu: String,
    /// The boot server type the item asks for: 0 boots from local media.
    pub boot_type: u16,
    /// The boot file a boot server of ours gives (its layer suffix added unless it has
    /// a dot).
    pub basename: Option<String>,
    /// The boot server: an address, or a name found in the hosts files (`resolve`).
    pub server: Option<Ipv4Addr>,
    pub server_name: Option<String>,
}

impl Service {
    /// Its boot server's address: the one given, or found for the name given (none if
    /// not found), else `local`, this server.
    pub fn boot_server(&self, local: Ipv4Addr) -> Ipv4Addr {
        match (&self.server_name, self.server) {
            (Some(_), found) => found.unwrap_or(Ipv4Addr::UNSPECIFIED),
            (None, server) => server.unwrap_or(local),
        }
    }

    /// The boot file for menu layer `layer`, as dnsmasq names it.
    pub fn boot_file(&self, layer: u16) -> Option<String> {
        let base = self.basename.as_ref()?;
        Some(match base.contains('.') {
            true => base.clone(),
            false => format!("{base}.{layer}"),
        })
    }
}

/// The PXE part of the configuration.
#[derive(Clone, Debug, Default)]
pub struct Pxe {
    pub services: Vec<Service>,
    /// The vendor classes of PXE clients (`--dhcp-pxe-vendor`, else `PXEClient`).
    vendors: Vec<String>,
    /// Any `--pxe-service` or `--pxe-prompt` given: PXE clients are told of the menu,
    /// proxy ranges are served and the PXE port listened on.
    enabled: bool,
}

/// What a request says of a PXE client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The configured vendor class its own begins with: the one given back to it.
    pub vendor: String,
    /// Its system type (option 93), if it sent one: only then is it offered a menu.
    pub arch: Option<u16>,
    /// Its machine identifier (option 97, 17 bytes), given back.
    pub uuid: Option<Vec<u8>>,
}

impl Client {
    /// The options every reply to it carries: the vendor class it is known by (60) and
    /// its machine id (97), given back.
    pub fn given_back(&self) -> Vec<(u8, Vec<u8>)> {
        let mut given = vec![(60, self.vendor.as_bytes().to_vec())];
        given.extend(self.uuid.iter().map(|u| (97, u.clone())));
        given
    }
}

impl Pxe {
    pub fn from_config(config: &Config) -> Pxe {
        let mut boot_type = FIRST_BOOT_TYPE;
        let services = config
            .values("pxe-service")
            .filter_map(|v| match v {
                Value::PxeService {
                    tags,
                    arch,
                    menu,
                    basename,
                    server,
                } => {
                    let numbered = basename.as_deref().and_then(|b| b.parse::<u16>().ok());
                    let (kind, basename) = match (basename, numbered) {
                        (None, _) => (0, None),
                        (Some(_), Some(n)) => (n, None),
                        (Some(b), None) => {
                            boot_type = boot_type.wrapping_add(1);
                            (boot_type.wrapping_sub(1), Some(b.clone()))
                        }
                    };
                    let address = server.as_deref().and_then(|s| s.parse().ok());
                    Some(Service {
                        tags: tags.clone(),
                        arch: *arch,
                        menu: menu.clone(),
                        boot_type: kind,
                        basename,
                        server: address,
                        server_name: server.clone().filter(|_| address.is_none()),
                    })
                }
                _ => None,
            })
            .collect();
        let mut vendors: Vec<String> = config
            .values("dhcp-pxe-vendor")
            .filter_map(|v| match v {
                Value::TextList(list) => Some(list.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        if vendors.is_empty() {
            vendors.push(DEFAULT_VENDOR.to_string());
        }
        // dnsmasq keeps them latest first.
        vendors.reverse();
        Pxe {
            services,
            vendors,
            enabled: config.has("pxe-service") || config.has("pxe-prompt"),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Give services whose boot server is named the address `lookup` finds (dnsmasq
    /// looks in the hosts files); returns the names not found.
    pub fn resolve(&mut self, lookup: &impl Fn(&str) -> Option<Ipv4Addr>) -> Vec<String> {
        let named = self
            .services
            .iter_mut()
            .map(|s| (&s.server_name, &mut s.server));
        resolve_named(named, lookup)
    }

    /// The request's client as a PXE client: one whose vendor class (option 60) begins
    /// with a configured one, while PXE is on.
    pub fn client(
        &self,
        vendor_class: Option<&[u8]>,
        arch: Option<&[u8]>,
        uuid: Option<&[u8]>,
    ) -> Option<Client> {
        let class = vendor_class.filter(|_| self.enabled)?;
        let vendor = self
            .vendors
            .iter()
            .find(|v| class.starts_with(v.as_bytes()))?;
        Some(Client {
            vendor: vendor.clone(),
            arch: arch
                .and_then(|a| a.get(..2))
                .map(|a| u16::from_be_bytes([a[0], a[1]])),
            uuid: uuid.filter(|u| u.len() >= 17).map(|u| u[..17].to_vec()),
        })
    }

    /// Whether a configured PXE vendor class appears anywhere in `class` (how dnsmasq
    /// matches `--pxe-prompt`'s vendor option to a client).
    pub fn vendor_in(&self, class: &[u8]) -> bool {
        self.vendors
            .iter()
            .any(|v| v.is_empty() || class.windows(v.len()).any(|w| w == v.as_bytes()))
    }

    /// The services a client of `arch` with `tags` is offered, in configuration order.
    fn offered<'s>(&'s self, arch: u16, tags: &'s Tags) -> impl Iterator<Item = &'s Service> {
        self.services
            .iter()
            .filter(move |s| s.arch == arch && tags.matches(&s.tags, true))
    }

    /// dnsmasq's workaround for UEFI firmware with broken menus: for a UEFI client
    /// (`arch` 6 and up) offered exactly one service with a boot file, that service, to
    /// be given in the header's fields instead of a menu.
    pub fn sole_uefi_service<'s>(&'s self, arch: u16, tags: &'s Tags) -> Option<&'s Service> {
        if arch < 6 {
            return None;
        }
        let mut with_file = self.offered(arch, tags).filter(|s| s.basename.is_some());
        let first = with_file.next()?;
        with_file.next().is_none().then_some(first)
    }

    /// The first service asking for boot server type `boot_type`.
    pub fn service_of_type(&self, boot_type: u16) -> Option<&Service> {
        self.services.iter().find(|s| s.boot_type == boot_type)
    }

    /// The PXE sub-options of option 43 for a client of `arch` with `tags`, in dnsmasq's
    /// order: discovery control, the prompt (where no `--pxe-prompt` applies,
    /// `prompt_configured`), the boot servers and the menu. `local` is the boot server
    /// of services with a boot file. Err: the menu does not fit (dnsmasq then sends
    /// none of it).
    pub fn menu(
        &self,
        arch: u16,
        tags: &Tags,
        local: Ipv4Addr,
        prompt_configured: bool,
    ) -> Result<Vec<(u8, Vec<u8>)>, MenuTooLarge> {
        // Multicast discovery is not offered, nor broadcast unless needed.
        let mut discovery = 3u8;
        let mut menu = Vec::new();
        let mut servers = Vec::new();
        let mut items = 0;
        for s in self.offered(arch, tags) {
            if menu.len() + s.menu.len() + 3 >= MAX_MENU_BYTES {
                return Err(MenuTooLarge);
            }
            menu.extend_from_slice(&s.boot_type.to_be_bytes());
            menu.push(s.menu.len() as u8);
            menu.extend_from_slice(s.menu.as_bytes());
            items += 1;
            let server = match s.basename {
                Some(_) => Some(local),
                None => s.server,
            };
            match server.filter(|a| !a.is_unspecified()) {
                Some(addr) => {
                    if servers.len() + 3 + 4 >= MAX_MENU_BYTES {
                        return Err(MenuTooLarge);
                    }
                    servers.extend_from_slice(&s.boot_type.to_be_bytes());
                    servers.push(1);
                    servers.extend_from_slice(&addr.octets());
                }
                // The client looks for a server of that type by broadcast.
                None if s.boot_type != 0 => discovery = 2,
                None => {}
            }
        }
        let mut out = Vec::new();
        if items == 0 {
            // No menu: the client boots the file in the header.
            discovery = 8;
        }
        out.push((DISCOVERY_CONTROL, vec![discovery]));
        if !prompt_configured {
            // Without a prompt, wait for a choice where there is one.
            let timeout = if items > 1 { 255 } else { 0 };
            out.push((MENU_PROMPT, vec![timeout, b'P', b'X', b'E']));
        }
        if items > 0 {
            if !servers.is_empty() {
                out.push((BOOT_SERVERS, servers));
            }
            out.push((BOOT_MENU, menu));
        }
        Ok(out)
    }
}

/// Give each (name, address) pair with a name the address `lookup` finds for it; the
/// names not found are returned (their addresses are then none).
pub fn resolve_named<'a>(
    named: impl Iterator<Item = (&'a Option<String>, &'a mut Option<Ipv4Addr>)>,
    lookup: &impl Fn(&str) -> Option<Ipv4Addr>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for (name, addr) in named {
        if let Some(name) = name {
            *addr = lookup(name);
            if addr.is_none() {
                missing.push(name.clone());
            }
        }
    }
    missing
}

/// The PXE menu is larger than option 43 can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MenuTooLarge;

#[cfg(test)]
mod tests {
    use super::*;

    fn pxe(conf: &str) -> Pxe {
        Pxe::from_config(&Config::from_text(conf).unwrap())
    }

    #[test]
    fn services_get_dnsmasqs_boot_types_and_the_menu_its_layout() {
        let p = pxe("pxe-service=x86PC,Boot from disk\n\
             pxe-service=x86PC,Install,pxelinux\n\
             pxe-service=x86PC,Other server,7,10.0.0.9\n\
             pxe-service=x86-64_EFI,EFI,grub.efi\n\
             pxe-service=x86PC,Search,9\n");
        let types: Vec<u16> = p.services.iter().map(|s| s.boot_type).collect();
        assert_eq!(types, [0, 32768, 7, 32769, 9]);
        let tags = Tags::new();
        let local = Ipv4Addr::new(10, 0, 0, 1);
        let menu = p.menu(0, &tags, local, false).unwrap();
        let mut items = vec![0, 0, 14];
        items.extend_from_slice(b"Boot from disk");
        items.extend_from_slice(&[0x80, 0, 7]);
        items.extend_from_slice(b"Install");
        items.extend_from_slice(&[0, 7, 12]);
        items.extend_from_slice(b"Other server");
        items.extend_from_slice(&[0, 9, 6]);
        items.extend_from_slice(b"Search");
        assert_eq!(
            menu,
            vec![
                // Type 9 has no server: the client broadcasts for one.
                (DISCOVERY_CONTROL, vec![2]),
                (MENU_PROMPT, vec![255, b'P', b'X', b'E']),
                (
                    BOOT_SERVERS,
                    vec![0x80, 0, 1, 10, 0, 0, 1, 0, 7, 1, 10, 0, 0, 9]
                ),
                (BOOT_MENU, items),
            ]
        );
        // One EFI item: no wait, and it is the sole UEFI service.
        let efi = p.menu(7, &tags, local, true).unwrap();
        assert_eq!(efi[0], (DISCOVERY_CONTROL, vec![3]));
        assert_eq!(efi.len(), 3);
        assert_eq!(p.sole_uefi_service(7, &tags).unwrap().menu, "EFI");
        assert!(p.sole_uefi_service(0, &tags).is_none());
        // No item for this type: the header's boot file is used.
        assert_eq!(
            p.menu(2, &tags, local, false).unwrap(),
            vec![
                (DISCOVERY_CONTROL, vec![8]),
                (MENU_PROMPT, vec![0, b'P', b'X', b'E'])
            ]
        );
        assert_eq!(p.services[1].boot_file(3).unwrap(), "pxelinux.3");
        assert_eq!(p.services[3].boot_file(0).unwrap(), "grub.efi");
    }

    #[test]
    fn pxe_clients_are_known_by_their_vendor_class() {
        let p = pxe("pxe-prompt=Choose,5\ndhcp-pxe-vendor=HW-Client,PXEClient\n");
        let uuid = [7u8; 17];
        let c = p
            .client(Some(b"PXEClient:Arch:00000"), Some(&[0, 7]), Some(&uuid))
            .unwrap();
        assert_eq!((c.vendor.as_str(), c.arch), ("PXEClient", Some(7)));
        assert_eq!(c.uuid.as_deref(), Some(&uuid[..]));
        assert_eq!(
            p.client(Some(b"HW-Client"), None, None).unwrap().vendor,
            "HW-Client"
        );
        assert!(p.client(Some(b"MSFT 5.0"), None, None).is_none());
        assert!(p.client(Some(b"xPXEClient"), None, None).is_none());
        assert!(p.vendor_in(b"xPXEClient"));
        // Without a service or prompt PXE is off.
        assert!(pxe("dhcp-pxe-vendor=PXEClient\n")
            .client(Some(b"PXEClient"), None, None)
            .is_none());
    }

    #[test]
    fn a_menu_too_large_for_option_43_is_refused() {
        let long = "m".repeat(125);
        let p = pxe(&format!(
            "pxe-service=x86PC,{long},a\npxe-service=x86PC,{long},b\n"
        ));
        assert_eq!(
            p.menu(0, &Tags::new(), Ipv4Addr::LOCALHOST, false),
            Err(MenuTooLarge)
        );
    }
}
