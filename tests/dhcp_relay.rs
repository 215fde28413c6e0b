//! ringmasq's DHCPv4 server over loopback, as a relay agent sees it (no root, no network
//! namespace): the test is the relay at 127.0.0.2, forwarding a client's DISCOVER and
//! REQUEST to the server on 127.0.0.1 and taking the replies the server sends back to
//! the relay's address.

mod common;

use common::{ask, free_port, scratch_dir, wait_until, Running};
use dhcproto::v4::{self, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use socket2::{Domain, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

const RINGMASQ: &str = env!("CARGO_BIN_EXE_ringmasq");
const RELAY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const MAC: [u8; 6] = [0x52, 0x54, 0, 0xaa, 0xbb, 0xcc];

fn start(dir: &std::path::Path, port: u16) -> Running {
    start_with(dir, port, "port=0\n")
}

/// The server with DHCP on `port` (replies to clients on `port + 1`) and `extra` lines.
fn start_with(dir: &std::path::Path, port: u16, extra: &str) -> Running {
    let conf = format!(
        "{extra}dhcp-alternate-port={port},{}\n\
         dhcp-range=127.0.0.50,127.0.0.60,255.255.255.0,2h\n\
         dhcp-leasefile={}/leases\nkeep-in-foreground\npid-file=\nlog-facility={}/log\n",
        port + 1,
        dir.display(),
        dir.display()
    );
    let path = dir.join("ringmasq.conf");
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(RINGMASQ);
    cmd.arg("-C").arg(&path);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--user=root");
    }
    Running(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The relay's socket: 127.0.0.2 on the server port, where the server sends replies.
fn relay(port: u16) -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&SockAddr::from(SocketAddr::from((RELAY, port))))
        .unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn relayed(kind: MessageType, xid: u32, opts: Vec<DhcpOption>) -> Vec<u8> {
    let mut m = Message::new_with_id(
        xid,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        RELAY,
        &MAC,
    );
    m.set_hops(1);
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    for o in opts {
        m.opts_mut().insert(o);
    }
    let mut buf = Vec::new();
    m.encode(&mut Encoder::new(&mut buf)).unwrap();
    buf
}

/// Send `request` until a reply with its transaction id comes back (the server may still
/// be starting).
fn exchange(sock: &UdpSocket, port: u16, request: &[u8], xid: u32) -> Message {
    let mut buf = [0u8; 1500];
    for _ in 0..50 {
        sock.send_to(request, (Ipv4Addr::LOCALHOST, port)).unwrap();
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let reply = Message::decode(&mut Decoder::new(&buf[..n])).unwrap();
            if reply.xid() == xid && reply.opcode() == v4::Opcode::BootReply {
                return reply;
            }
        }
    }
    panic!("no reply to transaction {xid:#x}");
}

#[test]
fn a_relayed_client_gets_a_lease_that_is_on_disk_and_survives_a_restart() {
    let dir = scratch_dir("dhcp-relay");
    let port = free_port();
    let sock = relay(port);
    let server = start(&dir, port);
    let offer = exchange(&sock, port, &relayed(MessageType::Discover, 1, vec![]), 1);
    assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
    let addr = offer.yiaddr();
    assert!((50..=60).contains(&addr.octets()[3]), "{addr}");
    assert_eq!(offer.giaddr(), RELAY);
    assert_eq!(
        offer.opts().get(OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(7200))
    );
    let ack = exchange(&sock, port, &request_named(&offer, "relayed-client"), 2);
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), addr);
    // The ACK went out after the lease was on disk: the journal (or the lease file,
    // after a compaction) holds it, in dnsmasq's line format.
    let on_disk = std::fs::read_to_string(dir.join("leases")).unwrap_or_default()
        + &std::fs::read_to_string(dir.join("leases.journal")).unwrap_or_default();
    assert!(
        on_disk.contains(&format!("52:54:00:aa:bb:cc {addr} relayed-client *")),
        "{on_disk}"
    );
    // Programs that read the lease file itself see the lease soon after (it follows the
    // journal within a second or two), with no more requests coming.
    let line = format!("52:54:00:aa:bb:cc {addr} relayed-client *");
    assert!(
        wait_until(|| std::fs::read_to_string(dir.join("leases")).is_ok_and(|f| f.contains(&line))),
        "the lease file lags"
    );
    drop(server);
    // A restarted server knows the lease: the client renewing (INIT-REBOOT, no server
    // id) gets its address back, where a server without the lease would stay silent.
    let _server = start(&dir, port);
    let reboot = relayed(
        MessageType::Request,
        3,
        vec![DhcpOption::RequestedIpAddress(addr)],
    );
    let ack = exchange(&sock, port, &reboot, 3);
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(ack.yiaddr(), addr);
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "DHCPACK(lo) {addr} 52:54:00:aa:bb:cc relayed-client"
        )),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The REQUEST (transaction 2) taking what `offer` offers, for a client named `name`.
fn request_named(offer: &Message, name: &str) -> Vec<u8> {
    let (server_id, addr) = offered(offer);
    relayed(
        MessageType::Request,
        2,
        vec![
            DhcpOption::RequestedIpAddress(addr),
            DhcpOption::ServerIdentifier(server_id),
            DhcpOption::Hostname(name.into()),
        ],
    )
}

/// The server id and address of an OFFER.
fn offered(offer: &Message) -> (Ipv4Addr, Ipv4Addr) {
    match offer.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(id)) => (*id, offer.yiaddr()),
        other => panic!("{other:?}"),
    }
}

fn addresses(port: u16, name: &str) -> (ResponseCode, Vec<RData>) {
    let m = ask(port, 7, name, RecordType::A);
    let answers = m
        .answers()
        .iter()
        .filter_map(|r| r.data().cloned())
        .collect();
    (m.response_code(), answers)
}

#[test]
fn a_clients_name_is_in_dns_while_its_lease_lasts() {
    let dir = scratch_dir("dhcp-names");
    let port = free_port();
    let dns = free_port();
    let sock = relay(port);
    let conf = format!("port={dns}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\ndomain=lan\nlocal=/lan/\ndhcp-ttl=30\n");
    let server = start_with(&dir, port, &conf);
    let offer = exchange(&sock, port, &relayed(MessageType::Discover, 1, vec![]), 1);
    let (server_id, addr) = offered(&offer);
    // Before the lease, the name is not known: local=/lan/ answers NXDOMAIN.
    assert_eq!(addresses(dns, "laptop.lan.").0, ResponseCode::NXDomain);
    assert_eq!(
        exchange(&sock, port, &request_named(&offer, "Laptop"), 2)
            .opts()
            .msg_type(),
        Some(MessageType::Ack)
    );
    // By the time the ACK is out, the name answers (bare and qualified), with the
    // --dhcp-ttl, and the address's PTR names it.
    let want = vec![RData::A(addr.into())];
    assert_eq!(
        addresses(dns, "laptop.lan."),
        (ResponseCode::NoError, want.clone())
    );
    assert_eq!(addresses(dns, "laptop."), (ResponseCode::NoError, want));
    let m = ask(dns, 8, "laptop.lan.", RecordType::A);
    assert_eq!(m.answers()[0].ttl(), 30);
    let o = addr.octets();
    let ptr = ask(
        dns,
        9,
        &format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0]),
        RecordType::PTR,
    );
    let names: Vec<String> = ptr
        .answers()
        .iter()
        .filter_map(|r| r.data())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(names, vec!["laptop.lan.".to_string()]);
    // RELEASE ends the lease and the name with it.
    let mut release = Message::new_with_id(
        3,
        addr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        RELAY,
        &MAC,
    );
    release
        .opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Release));
    release
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(server_id));
    let mut buf = Vec::new();
    release.encode(&mut Encoder::new(&mut buf)).unwrap();
    sock.send_to(&buf, (Ipv4Addr::LOCALHOST, port)).unwrap();
    assert!(
        wait_until(|| addresses(dns, "laptop.lan.").0 == ResponseCode::NXDomain),
        "the name outlived its lease"
    );
    // The RELEASE was written down too: a restarted server, which names every lease it
    // reads back, does not name this one.
    drop(server);
    let _server = start_with(&dir, port, &conf);
    assert_eq!(
        addresses(dns, "laptop.lan."),
        (ResponseCode::NXDomain, vec![])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hosts_file_gives_its_address_and_is_read_again_on_sighup() {
    let dir = scratch_dir("dhcp-hostsfile");
    let port = free_port();
    let hosts = dir.join("hosts.d");
    std::fs::create_dir_all(&hosts).unwrap();
    let mac = MAC.map(|b| format!("{b:02x}")).join(":");
    std::fs::write(
        hosts.join("a"),
        format!("# one client\n{mac},127.0.0.55,known-box\n"),
    )
    .unwrap();
    let opts = dir.join("opts");
    std::fs::write(&opts, "option:ntp-server,127.0.0.9\n").unwrap();
    let server = start_with(
        &dir,
        port,
        &format!(
            "port=0\ndhcp-hostsfile={}\ndhcp-optsfile={}\n",
            hosts.display(),
            opts.display()
        ),
    );
    let sock = relay(port);
    let ask_ntp = DhcpOption::ParameterRequestList(vec![OptionCode::NtpServers]);
    let offer = exchange(
        &sock,
        port,
        &relayed(MessageType::Discover, 0x71, vec![ask_ntp.clone()]),
        0x71,
    );
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(127, 0, 0, 55));
    assert_eq!(
        offer.opts().get(OptionCode::NtpServers),
        Some(&DhcpOption::NtpServers(vec![Ipv4Addr::new(127, 0, 0, 9)]))
    );
    // The file now gives the client another address; after SIGHUP it is offered that.
    std::fs::write(hosts.join("a"), format!("{mac},127.0.0.57\n")).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.0.id() as i32, libc::SIGHUP) };
    let moved = wait_until(|| {
        let offer = exchange(
            &sock,
            port,
            &relayed(MessageType::Discover, 0x72, vec![]),
            0x72,
        );
        offer.yiaddr() == Ipv4Addr::new(127, 0, 0, 57)
    });
    assert!(moved, "the re-read hosts file gives the new address");
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(
        log.contains(&format!("read {}/a", hosts.display())),
        "{log}"
    );
}

#[test]
fn a_file_added_to_a_dhcp_hostsdir_is_read_without_a_signal() {
    let dir = scratch_dir("dhcp-hostsdir");
    let port = free_port();
    let hosts = dir.join("hosts.d");
    std::fs::create_dir_all(&hosts).unwrap();
    let _server = start_with(
        &dir,
        port,
        &format!("port=0\ndhcp-hostsdir={}\n", hosts.display()),
    );
    let sock = relay(port);
    let first = exchange(
        &sock,
        port,
        &relayed(MessageType::Discover, 0x81, vec![]),
        0x81,
    );
    assert_ne!(first.yiaddr(), Ipv4Addr::new(127, 0, 0, 58));
    let mac = MAC.map(|b| format!("{b:02x}")).join(":");
    std::fs::write(hosts.join("new"), format!("{mac},127.0.0.58\n")).unwrap();
    let seen = wait_until(|| {
        let offer = exchange(
            &sock,
            port,
            &relayed(MessageType::Discover, 0x82, vec![]),
            0x82,
        );
        offer.yiaddr() == Ipv4Addr::new(127, 0, 0, 58)
    });
    assert!(seen, "the new file's address is offered");
}

#[test]
fn a_reply_delay_holds_a_tagged_clients_offer_back() {
    let dir = scratch_dir("dhcp-reply-delay");
    let port = free_port();
    let _server = start_with(
        &dir,
        port,
        "port=0\ndhcp-vendorclass=set:slow,SlowRom\ndhcp-reply-delay=tag:slow,2\n",
    );
    let sock = relay(port);
    // An untagged client is answered at once (and shows the server is up).
    exchange(
        &sock,
        port,
        &relayed(MessageType::Discover, 0x91, vec![]),
        0x91,
    );
    let slow = relayed(
        MessageType::Discover,
        0x92,
        vec![DhcpOption::ClassIdentifier(b"SlowRom 1".to_vec())],
    );
    let asked = std::time::Instant::now();
    let offer = exchange(&sock, port, &slow, 0x92);
    assert!(offer.yiaddr() != Ipv4Addr::UNSPECIFIED);
    // dnsmasq's promise: no sooner than the delay after the request.
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "the offer waited"
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(log.contains(&format!("{} reply delay: 2", 0x92)), "{log}");
}

#[test]
fn a_script_that_hangs_holds_up_no_client() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("dhcp-script-hangs");
    let port = free_port();
    let calls = dir.join("calls");
    let script = dir.join("hang.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $3\" >> {}\nexec sleep 30\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _server = start_with(
        &dir,
        port,
        &format!("port=0\ndhcp-script={}\n", script.display()),
    );
    let sock = relay(port);
    // Five clients (told apart by client id) each get their lease while the script,
    // called for the first, never returns.
    for n in 0..5u8 {
        let id = DhcpOption::ClientIdentifier(vec![0xff, n]);
        let offer = exchange(
            &sock,
            port,
            &relayed(
                MessageType::Discover,
                0x300 + u32::from(n),
                vec![id.clone()],
            ),
            0x300 + u32::from(n),
        );
        let server_id = match offer.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(s)) => *s,
            other => panic!("{other:?}"),
        };
        let request = relayed(
            MessageType::Request,
            0x400 + u32::from(n),
            vec![
                id,
                DhcpOption::RequestedIpAddress(offer.yiaddr()),
                DhcpOption::ServerIdentifier(server_id),
            ],
        );
        let ack = exchange(&sock, port, &request, 0x400 + u32::from(n));
        assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack), "client {n}");
    }
    // The script ran once, for the first lease, and the rest wait their turn.
    assert!(wait_until(
        || std::fs::read_to_string(&calls).is_ok_and(|c| c.lines().count() == 1)
    ));
    let first = std::fs::read_to_string(&calls).unwrap();
    assert!(first.starts_with("add 127.0.0."), "{first}");
}

#[test]
fn dhcp_relay_passes_requests_to_the_server_and_replies_back_to_the_client() {
    // ringmasq relays for 127.0.0.1 to a server the test plays at 127.0.0.3; the client
    // (also the test) has address 127.0.0.9 and renews, so the reply comes to it there.
    let dir = scratch_dir("dhcp-relay-agent");
    let port = free_port();
    let server = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    server
        .bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 3], 0))))
        .unwrap();
    let server: UdpSocket = server.into();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let server_port = server.local_addr().unwrap().port();
    let client = UdpSocket::bind(("127.0.0.9", port + 1)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _relay = start_with(
        &dir,
        port,
        &format!("port=0\nlog-dhcp\ndhcp-relay=127.0.0.1,127.0.0.3#{server_port}\n"),
    );
    let mut request = Message::new_with_id(
        0x77,
        Ipv4Addr::new(127, 0, 0, 9),
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &MAC,
    );
    request
        .opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Request));
    let mut bytes = Vec::new();
    request.encode(&mut Encoder::new(&mut bytes)).unwrap();
    // The request reaches the server through the relay, with the relay's address and a
    // hop added; the relay does not answer it itself.
    let mut buf = [0u8; 1500];
    let mut relayed = None;
    for _ in 0..50 {
        client.send_to(&bytes, (Ipv4Addr::LOCALHOST, port)).unwrap();
        if let Ok((n, _)) = server.recv_from(&mut buf) {
            relayed = Some(Message::decode(&mut Decoder::new(&buf[..n])).unwrap());
            break;
        }
    }
    let relayed = relayed.expect("the request was relayed");
    assert_eq!(relayed.giaddr(), Ipv4Addr::LOCALHOST);
    assert_eq!(relayed.hops(), 1);
    assert_eq!(relayed.xid(), 0x77);
    // The server's ACK, sent to the relay, goes on to the client's address.
    let mut ack = relayed.clone();
    ack.set_opcode(v4::Opcode::BootReply);
    ack.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Ack));
    let mut ack_bytes = Vec::new();
    ack.encode(&mut Encoder::new(&mut ack_bytes)).unwrap();
    server
        .send_to(&ack_bytes, (Ipv4Addr::LOCALHOST, port))
        .unwrap();
    let (n, _) = client.recv_from(&mut buf).expect("the reply came back");
    let back = Message::decode(&mut Decoder::new(&buf[..n])).unwrap();
    assert_eq!(
        (back.xid(), back.opts().msg_type()),
        (0x77, Some(MessageType::Ack))
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(log.contains("DHCP relay 127.0.0.1 -> 127.0.0.3"), "{log}");
    assert!(
        !log.contains("DHCPREQUEST"),
        "the relay served the request itself: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_lease_name_the_hosts_file_gives_another_address_is_not_given_and_is_logged() {
    let dir = scratch_dir("dhcp-hosts-clash");
    let port = free_port();
    let dns = free_port();
    let sock = relay(port);
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.99 nas.lan\n127.0.0.98 bootsrv\n").unwrap();
    let conf = format!(
        "port={dns}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n\
         addn-hosts={}\ndomain=lan\nlocal=/lan/\ndhcp-boot=pxelinux.0,bootsrv,bootsrv\n",
        hosts.display()
    );
    let _server = start_with(&dir, port, &conf);
    let offer = exchange(&sock, port, &relayed(MessageType::Discover, 1, vec![]), 1);
    // The boot server named in --dhcp-boot is found in the hosts file.
    assert_eq!(offer.siaddr(), Ipv4Addr::new(127, 0, 0, 98));
    let addr = offer.yiaddr();
    assert_eq!(
        exchange(&sock, port, &request_named(&offer, "nas"), 2)
            .opts()
            .msg_type(),
        Some(MessageType::Ack)
    );
    // The bare name goes to the lease; the qualified one stays the hosts file's.
    assert_eq!(
        addresses(dns, "nas."),
        (ResponseCode::NoError, vec![RData::A(addr.into())])
    );
    assert_eq!(
        addresses(dns, "nas.lan."),
        (
            ResponseCode::NoError,
            vec![RData::A(Ipv4Addr::new(127, 0, 0, 99).into())]
        )
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let want = format!(
        "not giving name nas.lan to the DHCP lease of {addr} because the name exists in {} \
         with address 127.0.0.99",
        hosts.display()
    );
    assert!(log.contains(&want), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
