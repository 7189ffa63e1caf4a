//! Addresses: `MOUNT/PATH[?OPTIONS][#FIELD]`, as `bao kv get -field=FIELD MOUNT/PATH` reads
//! them (and as vals writes `#field`).

use secretsd_protocol::{ErrorKind, ProviderError};

/// One address, split. The path still includes its mount: which part is the mount is
/// found from the server (`kv::Mounts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `secret/app`, without a leading or trailing `/`.
    pub path: String,
    /// `?version=N`: a KV v2 version to read; writes to it are refused.
    pub version: Option<u64>,
    /// After the first `#`, taken literally.
    pub field: Option<String>,
}

fn invalid(key: &str, why: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!(
            "{key:?} is not an OpenBao address ({why}); write MOUNT/PATH#FIELD, e.g. secret/app#DB_PASSWORD"
        ),
    )
}

impl Address {
    /// Splits `key` at the first `?` that comes before any `#`, then at the first `#`: the
    /// field after it is taken literally, `?` and all.
    pub fn parse(key: &str) -> Result<Address, ProviderError> {
        let (before_field, field) = match key.split_once('#') {
            Some((before, field)) => (before, Some(field.to_string())),
            None => (key, None),
        };
        let (path, options) = match before_field.split_once('?') {
            Some((path, options)) => (path, Some(options)),
            None => (before_field, None),
        };
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return Err(invalid(key, "no secret path"));
        }
        refuse_dot_segments(key, path)?;
        if path.contains("//") {
            return Err(invalid(key, "an empty path segment"));
        }
        if field.as_deref() == Some("") {
            return Err(invalid(key, "an empty field after #"));
        }
        let mut version = None;
        for option in options.into_iter().flat_map(|o| o.split('&')) {
            match option.split_once('=') {
                Some(("version", n)) => {
                    version = Some(n.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        invalid(key, "version must be a KV v2 version number, 1 or more")
                    })?)
                }
                _ => return Err(invalid(key, "the only option is ?version=N")),
            }
        }
        Ok(Address {
            path: path.to_string(),
            version,
            field,
        })
    }

    /// The field, or an error saying one is needed for `what`.
    pub fn field(&self, key: &str, what: &str) -> Result<&str, ProviderError> {
        self.field.as_deref().ok_or_else(|| {
            invalid(
                key,
                &format!(
                    "{what} needs a field: {}#FIELD; vault provider check openbao needs --key-prefix MOUNT/PATH#",
                    self.path.trim_end_matches('/')
                ),
            )
        })
    }

    /// Writes go to the latest version only.
    pub fn writable(&self, key: &str) -> Result<(), ProviderError> {
        match self.version {
            Some(_) => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{key:?} pins a version (?version=): a write goes to the latest version, so write the address without it"
                ),
            )),
            None => Ok(()),
        }
    }
}

/// A `.` or `..` segment would step out of the mount in the URL the path is sent in.
pub fn refuse_dot_segments(key: &str, path: &str) -> Result<(), ProviderError> {
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(invalid(key, "a . or .. path segment"));
    }
    Ok(())
}

/// How a listed field is written back as an address.
pub fn field_address(path: &str, field: &str) -> String {
    format!("{path}#{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(key: &str) -> Address {
        Address::parse(key).unwrap()
    }

    #[test]
    fn splits_at_the_first_question_mark_then_the_first_hash() {
        assert_eq!(
            parse("secret/app#DB_PASSWORD"),
            Address {
                path: "secret/app".into(),
                version: None,
                field: Some("DB_PASSWORD".into())
            }
        );
        assert_eq!(
            parse("secret/app?version=3#A#B?c"),
            Address {
                path: "secret/app".into(),
                version: Some(3),
                field: Some("A#B?c".into())
            }
        );
        assert_eq!(parse("team/a/b/app").field, None);
        assert_eq!(parse("/secret/app#x").path, "secret/app");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "#x",
            "secret//app#x",
            "secret/app#",
            "secret/app?v=1#x",
            "secret/app?version=0#x",
            "secret/../x#y",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert!(parse("secret/app?version=2#x").writable("k").is_err());
        assert!(refuse_dot_segments("k", "secret/../sys/").is_err());
        assert!(refuse_dot_segments("k", "secret/./").is_err());
        assert!(refuse_dot_segments("k", "secret/a..b/").is_ok());
    }
}
