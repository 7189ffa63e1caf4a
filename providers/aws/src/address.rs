//! Keys as vault sends them (what follows `aws:`): `sm:NAME[?OPTIONS][#FIELD]` for a Secrets
//! Manager secret, `ssm:NAME[?version=N][#FIELD]` for an SSM parameter.
//!
//! The name ends at the first `?` or `#`: neither can occur in a Secrets Manager or SSM
//! name, so a name is always kept exactly as written (`/prod/app/key`, `my-param`, an ARN).

use secretsd_protocol::{ErrorKind, ProviderError};

/// Which service holds a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    SecretsManager,
    Parameters,
}

/// A version pinned by the address; a pinned address is read-only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pin {
    /// `?version-stage=AWSPREVIOUS` (Secrets Manager).
    Stage(String),
    /// `?version-id=…` (Secrets Manager).
    VersionId(String),
    /// `?version=N` (SSM).
    Version(u64),
}

/// One parsed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub service: Service,
    /// The secret's name or ARN, or the parameter's name, exactly as written.
    pub name: String,
    pub pin: Option<Pin>,
    /// A top-level field of a JSON value.
    pub field: Option<String>,
}

impl Address {
    pub fn parse(key: &str) -> Result<Address, ProviderError> {
        let (service, rest) = if let Some(rest) = key.strip_prefix("sm:") {
            (Service::SecretsManager, rest)
        } else if let Some(rest) = key.strip_prefix("ssm:") {
            (Service::Parameters, rest)
        } else {
            return Err(invalid(format!(
                "{key:?} is not an AWS address; write sm:NAME (Secrets Manager) or ssm:NAME \
                 (SSM Parameter Store), e.g. aws:sm:prod/db#password or aws:ssm:/prod/app/key"
            )));
        };
        let name_end = rest.find(['?', '#']).unwrap_or(rest.len());
        let (name, mut rest) = rest.split_at(name_end);
        if name.is_empty() {
            return Err(invalid(format!("{key:?} names no secret or parameter")));
        }
        let mut options = "";
        if let Some(after) = rest.strip_prefix('?') {
            let end = after.find('#').unwrap_or(after.len());
            options = &after[..end];
            rest = &after[end..];
        }
        let field = match rest.strip_prefix('#') {
            Some("") => return Err(invalid(format!("{key:?} has an empty #FIELD"))),
            Some(field) => Some(field.to_string()),
            None => None,
        };
        let pin = parse_pin(key, service, options)?;
        // An ARN's region picks the host a call goes to (secretsmanager.REGION.amazonaws.com):
        // only a region's shape is let through, not a host name or a dotted suffix.
        if let Some(region) = arn_part(name, 3).filter(|r| !r.is_empty())
            && !is_region(region)
        {
            return Err(invalid(format!(
                "{key:?}: {region:?} is not an AWS region (such as us-east-1 or \
                 cn-north-1); correct the ARN"
            )));
        }
        Ok(Address {
            service,
            name: name.to_string(),
            pin,
            field,
        })
    }

    /// The region in a Secrets Manager ARN (`arn:PARTITION:secretsmanager:REGION:…`), where
    /// the call has to go.
    pub fn arn_region(&self) -> Option<&str> {
        let mut parts = self.name.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => {
                Some(region)
            }
            _ => None,
        }
    }

    pub fn is_arn(&self) -> bool {
        self.name.starts_with("arn:")
    }

    /// Refuses a write to a pinned version: AWS writes only new versions.
    pub fn writable(&self, key: &str) -> Result<(), ProviderError> {
        match &self.pin {
            None => Ok(()),
            Some(_) => Err(invalid(format!(
                "{key:?} pins a version, and a version cannot be changed; write to the \
                 address without its ?option to make a new version"
            ))),
        }
    }
}

/// Part `n` of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:…`, from 0); None for a name.
fn arn_part(name: &str, n: usize) -> Option<&str> {
    if !name.starts_with("arn:") {
        return None;
    }
    name.split(':').nth(n)
}

/// Whether `region` has a region's shape: `^[a-z]{2}(-[a-z]+)+-[0-9]+$` (us-east-1,
/// us-gov-west-1, cn-north-1, ap-southeast-3).
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let [country, words @ .., number] = parts.as_slice() else {
        return false;
    };
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn parse_pin(key: &str, service: Service, options: &str) -> Result<Option<Pin>, ProviderError> {
    if options.is_empty() {
        return Ok(None);
    }
    let mut pin = None;
    for option in options.split('&') {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        let parsed = match (service, name) {
            (_, _) if value.is_empty() => {
                return Err(invalid(format!("{key:?}: option {name:?} needs a value")));
            }
            (Service::SecretsManager, "version-stage") => Pin::Stage(value.to_string()),
            (Service::SecretsManager, "version-id") => Pin::VersionId(value.to_string()),
            (Service::Parameters, "version") => match value.parse::<u64>() {
                Ok(n) if n > 0 => Pin::Version(n),
                _ => {
                    return Err(invalid(format!(
                        "{key:?}: version must be a whole number from 1"
                    )));
                }
            },
            (Service::SecretsManager, _) => {
                return Err(invalid(format!(
                    "{key:?}: unknown option {name:?}; a secret takes version-stage=STAGE \
                     or version-id=ID"
                )));
            }
            (Service::Parameters, _) => {
                return Err(invalid(format!(
                    "{key:?}: unknown option {name:?}; a parameter takes version=N"
                )));
            }
        };
        if pin.replace(parsed).is_some() {
            return Err(invalid(format!("{key:?} pins more than one version")));
        }
    }
    Ok(pin)
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address as a tuple to compare: service, name, pin, field.
    type Parts<'a> = (Service, &'a str, Option<Pin>, Option<&'a str>);

    fn parsed(key: &str) -> Parts<'static> {
        let a = Address::parse(key).unwrap();
        (a.service, a.name.leak(), a.pin, a.field.map(|f| &*f.leak()))
    }

    #[test]
    fn addresses_split_at_the_first_question_mark_then_the_first_hash() {
        use Service::*;
        let table: &[(&str, Parts)] = &[
            ("sm:prod/db", (SecretsManager, "prod/db", None, None)),
            (
                "sm:prod/db#password",
                (SecretsManager, "prod/db", None, Some("password")),
            ),
            (
                "sm:prod/db?version-stage=AWSPREVIOUS#password",
                (
                    SecretsManager,
                    "prod/db",
                    Some(Pin::Stage("AWSPREVIOUS".into())),
                    Some("password"),
                ),
            ),
            (
                "sm:x?version-id=0123-abc",
                (
                    SecretsManager,
                    "x",
                    Some(Pin::VersionId("0123-abc".into())),
                    None,
                ),
            ),
            (
                "sm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf#user",
                (
                    SecretsManager,
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                    None,
                    Some("user"),
                ),
            ),
            (
                "ssm:/prod/app/key",
                (Parameters, "/prod/app/key", None, None),
            ),
            ("ssm:my-param", (Parameters, "my-param", None, None)),
            (
                "ssm:/prod/app/key?version=3#a#b?c",
                (
                    Parameters,
                    "/prod/app/key",
                    Some(Pin::Version(3)),
                    Some("a#b?c"),
                ),
            ),
        ];
        for (key, want) in table {
            assert_eq!(&parsed(key), want, "{key}");
        }
    }

    #[test]
    fn nonsense_is_invalid_and_names_the_fix() {
        for key in [
            "prod/db",
            "sm:",
            "ssm:?version=1",
            "sm:x#",
            "sm:x?version=1",
            "ssm:x?version-stage=AWSCURRENT",
            "ssm:x?version=0",
            "ssm:x?version=two",
            "sm:x?version-stage=",
            "sm:x?version-stage=A&version-id=B",
        ] {
            let e = Address::parse(key).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Invalid, "{key}");
            assert!(e.message.contains(key) || key == "prod/db", "{key}: {e}");
        }
    }

    #[test]
    fn an_arn_names_its_region_and_a_pinned_address_is_read_only() {
        let arn = Address::parse("sm:arn:aws-cn:secretsmanager:cn-north-1:1:secret:x").unwrap();
        assert_eq!(arn.arn_region(), Some("cn-north-1"));
        assert_eq!(Address::parse("sm:prod/x").unwrap().arn_region(), None);
        let pinned = Address::parse("sm:x?version-stage=AWSPREVIOUS").unwrap();
        assert_eq!(pinned.writable("k").unwrap_err().kind, ErrorKind::Invalid);
        assert!(Address::parse("ssm:x#f").unwrap().writable("k").is_ok());
    }

    #[test]
    fn an_arns_region_must_look_like_a_region() {
        for good in ["us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-3"] {
            assert!(is_region(good), "{good}");
            let key = format!("sm:arn:aws:secretsmanager:{good}:1:secret:db");
            assert_eq!(Address::parse(&key).unwrap().arn_region(), Some(good));
        }
        for bad in [
            "s3.us-east-1",
            "evil.example.com#",
            "us-east",
            "US-EAST-1",
            "useast-1",
            "u-east-1",
            "us--1",
            "us-east-1a",
            "us-east-1.",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        for key in [
            "sm:arn:aws:secretsmanager:s3.us-east-1:1:secret:db",
            "sm:arn:aws:secretsmanager:attacker.example:1:secret:db",
            "ssm:arn:aws:ssm:x.y:1:parameter/p",
        ] {
            let e = Address::parse(key).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Invalid, "{key}");
            assert!(e.message.contains("is not an AWS region"), "{key}: {e}");
        }
    }
}
