//! The origin of a URL (scheme, host and port) — what a redirect may lead to — and the
//! userinfo an address must not carry.

/// The authority of an `http://` or `https://` URL (`host:port`, `user@host`), and its
/// scheme; None for any other URL.
fn split(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, &rest[..end]))
}

/// Whether `url` names a user (`http://user:pass@host`): a password there would be shown
/// wherever the address is.
pub fn has_userinfo(url: &str) -> bool {
    split(url).is_some_and(|(_, authority)| authority.contains('@'))
}

/// `scheme://host:port` of `url`, lower-cased and with the scheme's default port made
/// explicit; None when it is not an http(s) URL with a host, or names a user.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, authority) = split(url)?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let default_port = if scheme == "https" { "443" } else { "80" };
    // An IPv6 host is bracketed: its port comes after the `]`.
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], &authority[colon + 1..])
        }
        _ => (authority, ""),
    };
    if host.is_empty() || (!port.is_empty() && port.parse::<u16>().is_err()) {
        return None;
    }
    let port = if port.is_empty() { default_port } else { port };
    Some(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let o = |u| origin(u);
        assert_eq!(
            o("http://127.0.0.1:8200/v1/x").as_deref(),
            Some("http://127.0.0.1:8200")
        );
        assert_eq!(
            o("HTTPS://Bao.Example").as_deref(),
            Some("https://bao.example:443")
        );
        assert_eq!(
            o("http://[::1]:8200/").as_deref(),
            Some("http://[::1]:8200")
        );
        assert_eq!(o("http://[::1]").as_deref(), Some("http://[::1]:80"));
        assert_eq!(o("http://a:b@host:1/"), None);
        assert_eq!(o("ftp://host/"), None);
        assert_eq!(o("http://host:x/"), None);
        assert_ne!(o("http://127.0.0.1:8200"), o("http://127.0.0.2:8200"));
        assert!(has_userinfo("http://user:pass@host:8200"));
        assert!(!has_userinfo("http://host:8200/a@b"));
    }
}
