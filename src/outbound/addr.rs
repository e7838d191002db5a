//! What kind of address an IP is, for the outbound guard: public, or one of
//! the ranges a server-side request must not reach without the operator's
//! say-so (loopback, private, link-local, shared/CGNAT) or ever (cloud
//! metadata services, unspecified, broadcast, multicast, reserved). IPv6
//! forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
//! IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) are classified by
//! the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The class of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrClass {
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 10/8, 172.16/12, 192.168/16; RFC 4193 fc00::/7; fec0::/10;
    /// NAT64 local-use 64:ff9b:1::/48.
    Private,
    /// 169.254/16 (RFC 3927), fe80::/10.
    LinkLocal,
    /// 100.64/10 (RFC 6598, carrier-grade NAT).
    SharedCgnat,
    /// Cloud instance metadata and host services: 169.254.169.254 (AWS, GCP,
    /// Azure, OpenStack …), 169.254.170.2 (AWS ECS), fd00:ec2::254 (AWS
    /// IPv6), 100.100.100.200 (Alibaba), 168.63.129.16 (Azure WireServer).
    MetadataService,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 224/4, ff00::/8.
    Multicast,
    /// 240/4, IETF protocol assignments 192.0.0/24, benchmarking 198.18/15,
    /// documentation 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Reserved,
}

impl AddrClass {
    /// How a refusal names the class.
    pub fn describe(self) -> &'static str {
        match self {
            AddrClass::Public => "a public",
            AddrClass::Loopback => "a loopback",
            AddrClass::Private => "a private-network",
            AddrClass::LinkLocal => "a link-local",
            AddrClass::SharedCgnat => "a shared (carrier-grade NAT)",
            AddrClass::MetadataService => "a cloud metadata-service",
            AddrClass::Unspecified => "an unspecified",
            AddrClass::Broadcast => "a broadcast",
            AddrClass::Multicast => "a multicast",
            AddrClass::Reserved => "a reserved",
        }
    }
}

const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(168, 63, 129, 16),
];
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// Host names of metadata services, refused before any DNS lookup.
pub const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata.goog", "metadata"];

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    if METADATA_V4.contains(&ip) {
        AddrClass::MetadataService
    } else if in_v4(ip, [0, 0, 0, 0], 8) {
        AddrClass::Unspecified
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if ip.is_private() {
        AddrClass::Private
    } else if ip.is_link_local() {
        AddrClass::LinkLocal
    } else if in_v4(ip, [100, 64, 0, 0], 10) {
        AddrClass::SharedCgnat
    } else if ip.is_broadcast() {
        AddrClass::Broadcast
    } else if ip.is_multicast() {
        AddrClass::Multicast
    } else if in_v4(ip, [240, 0, 0, 0], 4)
        || in_v4(ip, [192, 0, 0, 0], 24)
        || in_v4(ip, [198, 18, 0, 0], 15)
        || in_v4(ip, [192, 0, 2, 0], 24)
        || in_v4(ip, [198, 51, 100, 0], 24)
        || in_v4(ip, [203, 0, 113, 0], 24)
    {
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let s = ip.segments();
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip == METADATA_V6 {
        AddrClass::MetadataService
    } else if ip.is_unspecified() {
        AddrClass::Unspecified
    } else if ip.is_loopback() {
        AddrClass::Loopback
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        classify_v4(v4)
    } else if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) and NAT64 well-known prefix (RFC 6052).
        classify_v4(embedded)
    } else if (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfec0
    {
        // NAT64 local-use 64:ff9b:1::/48, unique local fc00::/7, site-local fec0::/10.
        AddrClass::Private
    } else if (s[0] & 0xffc0) == 0xfe80 {
        AddrClass::LinkLocal
    } else if (s[0] & 0xff00) == 0xff00 {
        AddrClass::Multicast
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        AddrClass::Reserved
    } else {
        AddrClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::AddrClass::*;
    use super::*;

    fn c(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        for (ip, want) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", MetadataService),
            ("169.254.170.2", MetadataService),
            ("100.100.100.200", MetadataService),
            ("168.63.129.16", MetadataService),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("255.255.255.255", Broadcast),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("192.0.2.1", Reserved),
        ] {
            assert_eq!(c(ip), want, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_and_embedded_ipv4() {
        for (ip, want) in [
            ("2606:4700::1111", Public),
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fe80::1", LinkLocal),
            ("ff02::1", Multicast),
            ("fd00:ec2::254", MetadataService),
            ("2001:db8::1", Reserved),
            // IPv4-mapped forms of every refused class.
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", MetadataService),
            ("::ffff:169.254.1.1", LinkLocal),
            ("::ffff:100.64.0.1", SharedCgnat),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:8.8.8.8", Public),
            // IPv4-compatible and NAT64.
            ("::10.0.0.1", Private),
            ("64:ff9b::169.254.169.254", MetadataService),
            ("64:ff9b::8.8.8.8", Public),
            ("64:ff9b:1::1", Private),
        ] {
            assert_eq!(c(ip), want, "{ip}");
        }
    }
}
