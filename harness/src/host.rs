//! The server address, by Ollama's own rules for `OLLAMA_HOST` (envconfig.Host): `host:port`,
//! `host`, `:port` or a URL; the scheme defaults to http, the port to 11434 (80 or 443 when a
//! scheme is given without one), and a path is kept. An unspecified bind address (`0.0.0.0`, `::`,
//! or no host), which is how a server is told to listen everywhere, is reached at loopback.

use std::net::IpAddr;

pub const DEFAULT: &str = "http://127.0.0.1:11434";

/// The base URL for `OLLAMA_HOST` (`None` or blank: the default), without a trailing slash.
pub fn base_url(var: Option<&str>) -> Result<String, String> {
    let raw = var.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Ok(DEFAULT.to_owned());
    }
    let (scheme, rest, default_port) = match raw.split_once("://") {
        None => ("http", raw, "11434"),
        Some(("http", rest)) => ("http", rest, "80"),
        Some(("https", rest)) => ("https", rest, "443"),
        Some((scheme, _)) => {
            return Err(format!("OLLAMA_HOST={raw}: the scheme `{scheme}` is neither http nor https"));
        }
    };
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = split_host_port(hostport).unwrap_or((hostport.trim_matches(['[', ']']), default_port));
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("OLLAMA_HOST={raw}: the port `{port}` is not a number from 1 to 65535"))?;
    let host = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_owned(),
        Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(ip) => ip.to_string(),
        Err(_) if host.is_empty() => "127.0.0.1".to_owned(),
        Err(_) if host.contains(|c: char| c.is_whitespace() || "?#@[]".contains(c)) => {
            return Err(format!("OLLAMA_HOST={raw}: `{host}` is not a host name"));
        }
        Err(_) => host.to_owned(),
    };
    let path = path.trim_end_matches('/');
    Ok(if path.is_empty() { format!("{scheme}://{host}:{port}") } else { format!("{scheme}://{host}:{port}/{path}") })
}

/// `host:port` or `[v6]:port`, as Go's net.SplitHostPort: `None` when there is no port.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    let (host, port) = s.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn follows_ollamas_rules() {
        let cases = [
            (None, "http://127.0.0.1:11434"),
            (Some(""), "http://127.0.0.1:11434"),
            (Some("ollama"), "http://ollama:11434"),
            (Some("ollama:8080"), "http://ollama:8080"),
            (Some(":9999"), "http://127.0.0.1:9999"),
            (Some("0.0.0.0"), "http://127.0.0.1:11434"),
            (Some("0.0.0.0:11434"), "http://127.0.0.1:11434"),
            (Some("[::]:11434"), "http://[::1]:11434"),
            (Some("::1"), "http://[::1]:11434"),
            (Some("http://ollama"), "http://ollama:80"),
            (Some("https://example.com"), "https://example.com:443"),
            (Some("http://ollama:11434/"), "http://ollama:11434"),
            (Some("http://proxy:8000/ollama/"), "http://proxy:8000/ollama"),
            (Some(" 10.0.0.5:1234 "), "http://10.0.0.5:1234"),
        ];
        for (var, expected) in cases {
            assert_eq!(base_url(var).as_deref(), Ok(expected), "OLLAMA_HOST={var:?}");
        }
    }

    #[test]
    fn rejects_what_ollama_cannot_reach_naming_the_part() {
        assert!(base_url(Some("ftp://host")).unwrap_err().contains("scheme `ftp`"));
        assert!(base_url(Some("host:99999")).unwrap_err().contains("port `99999`"));
        assert!(base_url(Some("host:abc")).unwrap_err().contains("port `abc`"));
        assert!(base_url(Some("user@host")).unwrap_err().contains("not a host name"));
    }
}
