//! What vault fills in for a provider from where its users already keep things, as a table
//! keyed by provider name: a provider is one row, and a new provider adds a row, not code.
//!
//! vault starts providers with an emptied environment, and a provider may not take a secret
//! from its environment (SPEC §7). Yet users of OpenBao have `BAO_TOKEN` set or a
//! `~/.vault-token` written by `bao login`, and `BAO_ADDR` exported. So:
//!
//! * a secret setting the configuration leaves out gets **default references**, tried in
//!   order; the first that finds a value is resolved by vault like any reference and sent in
//!   the provider's configuration (and so taken out of what the provider says back);
//! * **non-secret locators** (an address, a namespace, a CA file's path) named in the row's
//!   allow-list are passed on in the provider's environment when vault's own has them.
//!
//! `vault -v` says which source each was taken from (see `Resolver::explanations`).

use std::ffi::OsString;

/// One setting filled in when the configuration does not set it.
pub struct DefaultSetting {
    /// The setting's key in `[providers.NAME]`.
    pub key: &'static str,
    /// References tried in order; the first that finds a value is used. None finding one
    /// leaves the setting out (the provider then says what it lacks).
    pub references: &'static [&'static str],
    /// Settings that, when configured, mean this one is not wanted (an `auth` method other
    /// than a token needs no token): no default is then resolved or sent. Each with the
    /// values that still want it (`auth = "token"` names the method the default is for).
    pub unless_set: &'static [(&'static str, &'static [&'static str])],
}

/// What vault fills in for one provider.
pub struct ProviderDefaults {
    pub provider: &'static str,
    pub settings: &'static [DefaultSetting],
    /// Other settings that hold a secret even when written literally in the configuration
    /// (the `settings` above are secrets too): taken out of whatever the provider says.
    pub secrets: &'static [&'static str],
    /// Variables of vault's environment passed on to the provider. Locators only: never a
    /// variable that holds a secret.
    pub environment: &'static [&'static str],
}

/// The table. Rows are data; keep secrets out of `environment`.
pub const DEFAULTS: &[ProviderDefaults] = &[
    ProviderDefaults {
        provider: "openbao",
        settings: &[DefaultSetting {
            key: "token",
            // As the `bao` CLI looks (and HashiCorp's `vault` CLI before it).
            references: &["env:BAO_TOKEN", "env:VAULT_TOKEN", "file:~/.vault-token"],
            unless_set: &[("auth", &["token"])],
        }],
        secrets: &["secret_id", "role_id"],
        environment: &[
            "BAO_ADDR",
            "VAULT_ADDR",
            "BAO_NAMESPACE",
            "VAULT_NAMESPACE",
            "BAO_CACERT",
            "VAULT_CACERT",
        ],
    },
    ProviderDefaults {
        provider: "aws",
        // The key variables as the AWS CLI reads them; a profile named in the configuration
        // decides alone, as `aws --profile` does.
        settings: &[
            DefaultSetting {
                key: "access_key_id",
                references: &["env:AWS_ACCESS_KEY_ID"],
                unless_set: &[("profile", &[])],
            },
            DefaultSetting {
                key: "secret_access_key",
                references: &["env:AWS_SECRET_ACCESS_KEY"],
                unless_set: &[("profile", &[])],
            },
            DefaultSetting {
                key: "session_token",
                references: &["env:AWS_SESSION_TOKEN"],
                unless_set: &[("profile", &[])],
            },
        ],
        secrets: &[],
        // Where the SDK finds the rest: profiles and their files, regions, endpoints, web
        // identity (EKS), container credentials (ECS) and instance metadata. The token file
        // variables name paths, which the SDK reads itself.
        environment: &[
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ENDPOINT_URL_SSM",
            "AWS_ENDPOINT_URL_STS",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            "AWS_USE_FIPS_ENDPOINT",
            "AWS_USE_DUALSTACK_ENDPOINT",
            "AWS_STS_REGIONAL_ENDPOINTS",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_ROLE_SESSION_NAME",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_EC2_METADATA_DISABLED",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
            "AWS_CA_BUNDLE",
        ],
    },
    ProviderDefaults {
        provider: "infisical",
        settings: &[],
        secrets: &["client_secret"],
        environment: &[],
    },
];

/// Whether `key` of `[providers.PROVIDER]` holds a secret, however it is written.
pub fn is_secret_setting(provider: &str, key: &str) -> bool {
    of(provider).is_some_and(|row| {
        row.secrets.contains(&key) || row.settings.iter().any(|setting| setting.key == key)
    })
}

/// The row of `provider`, if it has one.
pub fn of(provider: &str) -> Option<&'static ProviderDefaults> {
    DEFAULTS.iter().find(|row| row.provider == provider)
}

/// The settings to fill in for `provider`, whose configuration gives `configured(KEY)`:
/// None for a key it does not set, else the value as written (a string's text; empty for
/// another type).
pub fn settings_to_fill<'a, 't: 'a>(
    provider: &str,
    configured: impl Fn(&str) -> Option<&'t str> + 'a,
) -> impl Iterator<Item = &'static DefaultSetting> + 'a {
    of(provider)
        .map(|row| row.settings)
        .unwrap_or_default()
        .iter()
        .filter(move |s| {
            configured(s.key).is_none()
                && !s.unless_set.iter().any(|(key, still)| {
                    configured(key).is_some_and(|value| !still.contains(&value))
                })
        })
}

/// The allow-listed variables of vault's environment that are set, for `provider`'s
/// environment.
pub fn environment(provider: &str) -> Vec<(OsString, OsString)> {
    of(provider)
        .map(|row| row.environment)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|value| (OsString::from(name), value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_setting_or_one_that_excludes_it_means_no_default() {
        let keys = |configured: &'static [(&'static str, &'static str)]| {
            settings_to_fill("openbao", move |k| {
                configured
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| *v)
            })
            .map(|s| s.key)
            .collect::<Vec<_>>()
        };
        assert_eq!(keys(&[]), ["token"]);
        assert_eq!(keys(&[("token", "env:T")]), Vec::<&str>::new());
        assert_eq!(keys(&[("auth", "approle")]), Vec::<&str>::new());
        // The token method named explicitly is still the token method.
        assert_eq!(keys(&[("auth", "token")]), ["token"]);
        assert_eq!(keys(&[("address", "http://x")]), ["token"]);
        assert_eq!(settings_to_fill("gopass", |_| None).count(), 0);
        assert_eq!(settings_to_fill("aws", |_| None).count(), 3);
        let profile = |k: &str| (k == "profile").then_some("dev");
        assert_eq!(settings_to_fill("aws", profile).count(), 0);
    }

    #[test]
    fn no_row_passes_a_variable_named_like_a_secret() {
        for row in DEFAULTS {
            // A variable naming a file (a token's) or a URI (ECS's credentials endpoint)
            // is a locator: the secret stays where it points.
            for name in row
                .environment
                .iter()
                .filter(|n| !n.ends_with("_FILE") && !n.ends_with("_URI"))
            {
                // Whole words: AWS_ENDPOINT_URL_SECRETS_MANAGER names a service.
                for word in name.to_ascii_uppercase().split('_') {
                    assert!(
                        !["TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIALS"].contains(&word),
                        "{} passes {name}",
                        row.provider
                    );
                }
            }
        }
    }
}
