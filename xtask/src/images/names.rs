//! What a registry reference, a host and a tag may be, checked before anything is built or any
//! login: `HOST[:PORT]/PATH` (the path lowercased where it is used, as image names must be), a
//! tag with room for its arch suffix, and whether a host is this machine (plain HTTP).

use anyhow::{bail, ensure, Result};

/// Whether the registry's host is this machine: `localhost`, an IPv4 address in 127.0.0.0/8, or
/// `::1` (in brackets, as in a URL), with or without a port. Decided from the parsed host, never
/// from a prefix: `127.attacker.example` is a name like any other.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let authority = registry.split('/').next().unwrap_or_default();
    // `127.0.0.1:5000@evil.com`: what comes before '@' is credentials, the host is after it.
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => authority.split_once(':').map_or(authority, |(host, _)| host),
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// A registry and repository prefix, `HOST[:PORT]/PATH`: the path of letters, digits and `._-/`
/// (lowercased where it is used: `ghcr.io/$REPOSITORY` may name an owner in capitals).
pub fn check_registry(registry: &str) -> Result<()> {
    let (host, path) = registry.split_once('/').unwrap_or((registry, ""));
    let path_ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with(['.', '-'])
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    ensure!(
        is_host(host) && path_ok,
        "{registry:?} is not a registry and repository prefix: use HOST[:PORT]/PATH of letters, digits and ._- (e.g. 127.0.0.1:5000/me)"
    );
    Ok(())
}

/// `NAME[:PORT]` (a DNS name or an IPv4 address) or `[IPv6][:PORT]`.
fn is_host(host: &str) -> bool {
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else { return false };
        return ip.parse::<std::net::Ipv6Addr>().is_ok()
            && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (name, port) = host.split_once(':').map_or((host, None), |(name, port)| (name, Some(port)));
    port.is_none_or(port_ok)
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The OCI architecture of a Nix arch (`x86_64` is `amd64`, `aarch64` is `arm64`), as an image's
/// config and an index's platform name it.
pub(crate) fn oci_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A tag given on the command line, as every arch's job pushes it (`<tag>-<arch>`), checked
/// before anything is built: the suffix must not take it over the 128 characters a tag may have.
pub(crate) fn check_arch_tags(tag: &str, arches: &[String]) -> Result<()> {
    check_tag(tag)?;
    if let Some(arch) = arches.iter().find(|arch| tag.len() + 1 + arch.len() > 128) {
        bail!(
            "--tag {tag:?} has {} characters: with its arch suffix (-{arch}) it is over the 128 a tag may have; shorten it",
            tag.len()
        );
    }
    Ok(())
}

/// A tag as the OCI distribution spec allows it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<()> {
    let first = tag.bytes().next();
    let valid = tag.len() <= 128
        && first.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ensure!(
        valid,
        "--tag {tag:?} is not an image tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-' (e.g. --tag v1.2.3)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_registries_are_plain_http() {
        for registry in ["localhost:5000/x", "127.0.0.1:5000", "127.1.2.3/a/b", "[::1]:5000/x", "localhost"] {
            assert!(is_loopback(registry), "{registry}");
        }
        let remote = ["ghcr.io/o/r", "registry.example:5000", "10.0.0.1:5000", "localhost.example.org/x", "[::2]:5000"];
        let lookalikes =
            ["127.attacker.example:5000/x", "127.0.0.1.nip.io/x", "[::1]evil:5000", "127.0.0.1:5000@evil.com/x"];
        for registry in remote.into_iter().chain(lookalikes) {
            assert!(!is_loopback(registry), "{registry}");
        }
    }

    #[test]
    fn a_registry_is_a_host_and_a_path() {
        for registry in ["ghcr.io/o/r", "127.0.0.1:5000/me", "[::1]:5000/x", "localhost:5000/x", "reg-1.example/a_b.c"]
        {
            assert!(check_registry(registry).is_ok(), "{registry}");
        }
        let bad_hosts = ["", "a b/c", "../x", "./x", "127.0.0.1:5000@evil.com/x", "host:port/x", "-h/x"];
        let bad_paths = ["ghcr.io", "h/../x", "h//x"];
        for registry in bad_hosts.into_iter().chain(bad_paths) {
            assert!(check_registry(registry).is_err(), "{registry}");
        }
    }

    #[test]
    fn a_tag_with_its_arch_suffix_fits_in_a_tag() {
        let arches = ["x86_64".to_owned(), "aarch64".to_owned()];
        assert!(check_arch_tags(&"a".repeat(120), &arches).is_ok());
        let err = check_arch_tags(&"a".repeat(121), &arches).unwrap_err().to_string();
        assert!(err.contains("-aarch64") && err.contains("shorten"), "{err}");
    }

    #[test]
    fn tags_are_checked_before_anything_runs() {
        for tag in ["latest", "v1.2.3", "0123abc", "_x", &"a".repeat(128)] {
            assert!(check_tag(tag).is_ok(), "{tag}");
        }
        for tag in ["", ".x", "-x", "a:b", "a/b", "a b", &"a".repeat(129), "x\nrun: evil"] {
            assert!(check_tag(tag).is_err(), "{tag}");
        }
    }
}
