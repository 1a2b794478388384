//! Secrets the xtask learns (the Cachix token, credentials in a cache URL) are registered before
//! anything is printed; what it prints about commands, caches and errors goes through [`redact`].

use std::sync::Mutex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret; whether it was new.
pub(crate) fn register(secret: &str) -> bool {
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let new = !secret.is_empty() && !secrets.iter().any(|s| s == secret);
    if new {
        secrets.push(secret.to_owned());
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
    new
}

/// The text with every registered secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    secrets.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), "***"))
}

/// The secrets in a store URL: the user-info of `scheme://user:password@host/…`, and the values
/// of query parameters that name a secret, password, token or access key.
pub(crate) fn in_url(url: &str) -> Vec<String> {
    let authority = url.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or_default());
    // A user name alone (ssh-ng://builder@host) is no secret; a password is.
    let userinfo = authority.rsplit_once('@').map(|(userinfo, _)| userinfo).filter(|u| u.contains(':'));
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let values = query.split('&').filter_map(|pair| pair.split_once('=')).filter(|(name, value)| {
        let name = name.to_ascii_lowercase();
        let sensitive = ["secret", "password", "token", "access-key", "access_key"].iter().any(|s| name.contains(s));
        // `secret-key=FILE` names a file, not a secret.
        sensitive && name != "secret-key" && !value.is_empty()
    });
    userinfo.into_iter().chain(values.map(|(_, value)| value)).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_credentials_in_urls() {
        assert_eq!(in_url("https://ci:s3cret@cache.example/nix"), ["ci:s3cret"]);
        assert_eq!(in_url("s3://bucket?region=eu&aws-secret-access-key=AbC&profile=x"), ["AbC"]);
        assert!(in_url("file:///c?secret-key=/c.secret").is_empty());
        assert!(in_url("ssh-ng://builder@host").is_empty(), "a user name is not a secret");
        assert!(in_url("https://cache.example/a@b").is_empty(), "an @ in the path is not user-info");
    }

    #[test]
    fn redacts_every_registered_secret() {
        register("hunter2-redaction-test");
        assert_eq!(redact("token hunter2-redaction-test, again hunter2-redaction-test"), "token ***, again ***");
    }
}
