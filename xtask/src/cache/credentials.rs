//! The credentials of an HTTP cache's URL (`http(s)://USER:PASSWORD@HOST/…`): taken out of the
//! URL, for a netrc file of the run (Nix and curl read them there; no command line holds them).

use anyhow::{ensure, Result};

/// The user and password of `http(s)://USER:PASSWORD@HOST/…`, for a netrc file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The host the netrc line is for (no port, no brackets).
    pub host: String,
    /// The user, percent-decoded.
    pub user: String,
    /// The password, percent-decoded.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ host: {:?}, .. }}", self.host)
    }
}

impl Credentials {
    /// The netrc line curl and Nix read (netrc has no escapes: a word with a space, a quote or a
    /// backslash cannot be written, and is refused when the URL is read).
    pub fn netrc(&self) -> String {
        format!("machine {} login {} password {}\n", self.host, self.user, self.password)
    }
}

/// `scheme://user:password@host/…` -> the URL without them, and the credentials (HTTP only:
/// curl and Nix read them from a netrc file; other schemes keep their user).
pub(crate) fn split_credentials(url: &str) -> Result<(String, Option<Credentials>)> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| *s == "http" || *s == "https") else {
        return Ok((url.to_owned(), None));
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let Some((userinfo, host_port)) = authority.rsplit_once('@') else { return Ok((url.to_owned(), None)) };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (user, password) = (percent_decode(user), percent_decode(password));
    let netrc_word = |w: &String| !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\');
    ensure!(
        netrc_word(&user) && netrc_word(&password),
        "`--cache {}`: the user and password must both be given, without spaces, quotes or backslashes (a netrc file hands them to Nix and curl)",
        crate::secrets::redact(url)
    );
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next(),
        None => host_port.split(':').next(),
    };
    let credentials = Credentials { host: host.unwrap_or_default().to_owned(), user, password };
    Ok((format!("{scheme}://{host_port}{tail}"), Some(credentials)))
}

/// `%XX` escapes of a URL's user-info, decoded.
fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        let (byte, skip) = hex.filter(|_| byte == b'%').map_or((byte, 0), |b| (b, 2));
        out.push(byte);
        rest = &tail[skip..];
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_for_a_netrc_file() {
        let (url, creds) = split_credentials("http://ci:s%40cret@127.0.0.1:8080/nix?compression=zstd").unwrap();
        assert_eq!(url, "http://127.0.0.1:8080/nix?compression=zstd");
        assert_eq!(creds.unwrap().netrc(), "machine 127.0.0.1 login ci password s@cret\n");
        for (url, host) in [("http://u:p@[::1]/", "::1"), ("https://u:p@[::1]:8443/", "::1"), ("http://u:p@h", "h")] {
            assert_eq!(split_credentials(url).unwrap().1.unwrap().host, host, "{url}");
        }
        assert_eq!(
            split_credentials("https://cache.example/a@b").unwrap(),
            ("https://cache.example/a@b".to_owned(), None)
        );
        assert_eq!(split_credentials("ssh-ng://builder@host").unwrap().0, "ssh-ng://builder@host");
        assert!(split_credentials("http://ci:two%20words@h/").is_err());
    }
}
