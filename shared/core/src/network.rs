//! An organisation's IP allowlist (ORG-3): the CIDR ranges (RFC 4632 for IPv4, RFC 4291 §2.3
//! for IPv6) its members' requests may come from. Parsing and matching are `ipnet`'s.
//!
//! - An empty list allows every address (the organisation set none).
//! - An entry is a CIDR range (`198.51.100.0/24`, `2001:db8::/32`) or a single address (a /32
//!   or /128). Host bits below the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
//! - An IPv4-mapped IPv6 address (`::ffff:198.51.100.7`) is matched as the IPv4 address it
//!   maps, so a dual-stack listener cannot slip a listed address past an IPv4 range or an
//!   unlisted one past an IPv6 range.

use ipnet::IpNet;
use std::net::IpAddr;

/// Most entries a list may hold.
pub const MAX_ENTRIES: usize = 100;

/// A parsed allowlist. Construct with [`IpAllowlist::parse`] (an invalid entry is an error) or
/// [`IpAllowlist::stored`] (an invalid stored entry allows nothing: fails closed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpAllowlist {
    ranges: Vec<IpNet>,
    /// A stored list that did not parse: nothing is allowed.
    broken: bool,
}

impl IpAllowlist {
    /// The list of `entries`, each a CIDR range or a single address, at most [`MAX_ENTRIES`].
    ///
    /// Errors: the first entry that is neither, by position and text, or too many entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        if entries.len() > MAX_ENTRIES {
            return Err(format!("at most {MAX_ENTRIES} ranges"));
        }
        let mut ranges = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let text = entry.as_ref().trim();
            let shown: String = text.chars().take(64).collect();
            // `010.0.0.0/8` is 10/8 here and 8/8 to tools that read a leading zero as octal.
            if leading_zero(text) {
                return Err(format!("[{i}]: `{shown}` has a number with a leading zero"));
            }
            let range = match text.parse::<IpNet>() {
                Ok(range) => range.trunc(),
                Err(_) => match text.parse::<IpAddr>() {
                    Ok(address) => IpNet::from(canonical(address)),
                    Err(_) => return Err(format!("[{i}]: `{shown}` is not a CIDR range or an IP address")),
                },
            };
            ranges.push(canonical_range(range));
        }
        Ok(IpAllowlist { ranges, broken: false })
    }

    /// The list as stored with an organisation; one that does not parse (it was not written
    /// through the API) allows nothing, and says why.
    pub fn stored<S: AsRef<str>>(entries: &[S]) -> (Self, Option<String>) {
        match Self::parse(entries) {
            Ok(list) => (list, None),
            Err(error) => (
                IpAllowlist {
                    ranges: Vec::new(),
                    broken: true,
                },
                Some(error),
            ),
        }
    }

    /// Whether the list restricts anything.
    pub fn is_restricted(&self) -> bool {
        self.broken || !self.ranges.is_empty()
    }

    /// The ranges in canonical form (`10.1.2.3/8` → `10.0.0.0/8`, a single address as a /32 or
    /// /128, a mapped IPv6 range as its IPv4 range), each once, in the order first given: what
    /// an organisation stores, so that what it reads back is what is enforced.
    pub fn entries(&self) -> Vec<String> {
        let mut entries: Vec<String> = Vec::with_capacity(self.ranges.len());
        for range in &self.ranges {
            let text = range.to_string();
            if !entries.contains(&text) {
                entries.push(text);
            }
        }
        entries
    }

    /// Whether a request from `address` is allowed.
    pub fn allows(&self, address: IpAddr) -> bool {
        if self.broken {
            return false;
        }
        let address = canonical(address);
        self.ranges.is_empty() || self.ranges.iter().any(|range| range.contains(&address))
    }
}

/// Whether an IPv4 entry has an octet, or any entry a prefix length, written with a leading
/// zero.
fn leading_zero(text: &str) -> bool {
    let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
    let padded = |part: &str| part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit());
    padded(prefix) || (!address.contains(':') && address.split('.').any(padded))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it maps; any other address as it is.
fn canonical(address: IpAddr) -> IpAddr {
    address.to_canonical()
}

/// An IPv6 range inside `::ffff:0:0/96` as the IPv4 range it maps.
fn canonical_range(range: IpNet) -> IpNet {
    match range {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).map_or(range, |r| r.trunc()),
            None => range,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Edges of IPv4 and IPv6 ranges, single addresses, host bits, mapped addresses, an empty
    /// list, and lists that do not parse.
    ///
    /// Proves: ORG-3
    #[test]
    fn ranges_allow_exactly_their_addresses() {
        let list = IpAllowlist::parse(&["198.51.100.0/24", "2001:db8:1::/48", "203.0.113.7", "10.1.2.3/8"]).unwrap();
        for allowed in [
            "198.51.100.0",
            "198.51.100.255",
            "203.0.113.7",
            "10.0.0.0",
            "10.255.255.255",
            "2001:db8:1::",
            "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
            "::ffff:198.51.100.9",
        ] {
            assert!(list.allows(ip(allowed)), "{allowed}");
        }
        for refused in [
            "198.51.99.255",
            "198.51.101.0",
            "203.0.113.6",
            "203.0.113.8",
            "11.0.0.0",
            "2001:db8:0:ffff:ffff:ffff:ffff:ffff",
            "2001:db8:2::",
            "::ffff:198.51.101.1",
            "::1",
            "127.0.0.1",
        ] {
            assert!(!list.allows(ip(refused)), "{refused}");
        }
        // A mapped range is the IPv4 range it maps.
        let mapped = IpAllowlist::parse(&["::ffff:192.0.2.0/120"]).unwrap();
        assert!(mapped.allows(ip("192.0.2.200")));
        assert!(!mapped.allows(ip("192.0.3.1")));
        // A single IPv6 address is a /128.
        let single = IpAllowlist::parse(&["2001:db8::1"]).unwrap();
        assert!(single.allows(ip("2001:db8::1")) && !single.allows(ip("2001:db8::2")));
        // /0 allows its whole family and only it.
        let v4_all = IpAllowlist::parse(&["0.0.0.0/0"]).unwrap();
        assert!(v4_all.allows(ip("8.8.8.8")) && !v4_all.allows(ip("2001:db8::1")));

        let empty = IpAllowlist::parse::<&str>(&[]).unwrap();
        assert!(!empty.is_restricted() && empty.allows(ip("8.8.8.8")));

        for bad in [
            "",
            "not-an-ip",
            "198.51.100.0/33",
            "2001:db8::/129",
            "198.51.100.0/24/1",
            " / ",
            "010.0.0.0/8",
            "10.0.0.01",
            "10.0.0.0/08",
            "fe80::1%eth0",
        ] {
            assert!(IpAllowlist::parse(&[bad]).is_err(), "{bad:?}");
            let (stored, why) = IpAllowlist::stored(&["198.51.100.0/24", bad]);
            assert!(why.is_some_and(|w| w.starts_with("[1]")), "{bad:?}");
            assert!(
                stored.is_restricted() && !stored.allows(ip("198.51.100.1")),
                "fails closed: {bad:?}"
            );
        }
        let too_many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(IpAllowlist::parse(&too_many).is_err());
        // A zero is not a leading zero; the whole mapped range is the whole IPv4 space.
        assert!(IpAllowlist::parse(&["10.0.0.0/8", "0.0.0.0/0", "2001:db8:0::/48"]).is_ok());
        let all_mapped = IpAllowlist::parse(&["::ffff:0:0/96"]).unwrap();
        assert!(all_mapped.allows(ip("8.8.8.8")) && !all_mapped.allows(ip("2001:db8::1")));
        // The canonical form: host bits cleared, single addresses as ranges, mapped ranges as
        // IPv4, duplicates once, order kept.
        let canonical = IpAllowlist::parse(&[
            "10.1.2.3/8",
            "203.0.113.7",
            "2001:db8::1",
            "::ffff:192.0.2.0/120",
            "10.0.0.0/8",
            " 2001:DB8:1::/48 ",
        ])
        .unwrap();
        assert_eq!(
            canonical.entries(),
            [
                "10.0.0.0/8",
                "203.0.113.7/32",
                "2001:db8::1/128",
                "192.0.2.0/24",
                "2001:db8:1::/48"
            ]
        );
        assert_eq!(
            IpAllowlist::parse(&canonical.entries()).unwrap().entries(),
            canonical.entries()
        );
        // What a stored entry's error shows is cut short.
        let long = "x".repeat(10_000);
        let error = IpAllowlist::parse(&[long]).unwrap_err();
        assert!(error.len() < 200, "{error}");
    }
}
