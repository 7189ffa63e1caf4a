//! `vault status`: where everything is, whether the vault opens, and what is wrong.

use serde_json::json;

use crate::cli::StatusArgs;
use crate::commands::{Context, print_report, print_stdout};
use crate::error::{Result, exit};
use crate::paths;
use crate::resolve::LookupEntry;
use crate::store::{Protection, backup::backup_dir, strict::check_private_file};

pub fn run(context: &Context, args: &StatusArgs) -> Result<u8> {
    let vault = context.vault();
    let vault_path = vault.path().to_path_buf();
    let identity = paths::IdentitySource::find(
        context.global.identity.as_deref(),
        crate::process::identity_key().is_some(),
    )?;
    let identity_file = match &identity {
        paths::IdentitySource::File(located) => Some(located.path.clone()),
        _ => None,
    };
    // From the environment or a command, the identity is there when the vault opens.
    let identity_present = identity_file.as_ref().is_none_or(|p| p.exists());
    let config = paths::config_file(context.global.config.as_deref())?;
    let mut problems: Vec<String> = Vec::new();

    let exists = vault.exists();
    // A lookup order without "vault" (env, a .env, a keyring) is a working setup with no
    // vault file at all: a missing one is then no problem.
    let vault_looked_up = context
        .config
        .lookup
        .order
        .iter()
        .any(|entry| matches!(LookupEntry::parse(entry), Ok(LookupEntry::Vault)));
    let mut due = None;
    let mut stale = None;
    let (opens, protection, secrets) = if !exists {
        if vault_looked_up {
            problems.push(format!(
                "no vault at {}; create one with 'vault init'",
                vault_path.display()
            ));
        }
        (false, None, None)
    } else {
        match vault.open(context) {
            Ok(opened) => {
                let protection = match opened.protection {
                    Protection::Passphrase(_) => "passphrase".to_string(),
                    Protection::Recipients => {
                        format!("{} recipient(s)", opened.document.recipients.len())
                    }
                };
                let now = std::time::SystemTime::now();
                let mut count = 0;
                for entry in opened.document.entries() {
                    if entry?.1.is_due(now) {
                        count += 1;
                    }
                }
                due = Some(count);
                stale = Some(opened.document.stale().len());
                (true, Some(protection), Some(opened.document.len()))
            }
            Err(e) => {
                problems.push(e.to_string());
                (false, None, None)
            }
        }
    };
    if let Some(path) = identity_file.as_ref().filter(|p| p.exists())
        && let Err(e) = check_private_file(path, "identity file")
    {
        let message = e.to_string();
        if !problems.contains(&message) {
            problems.push(message);
        }
    }
    let providers = crate::providers::discover();
    let mut lookup = Vec::new();
    for text in &context.config.lookup.order {
        let (entry, available) = match LookupEntry::parse(text) {
            Ok(entry) => {
                let available = match &entry {
                    LookupEntry::Env => true,
                    LookupEntry::Dotenv(path) => path.is_file(),
                    LookupEntry::Vault => opens,
                    LookupEntry::Provider(name) => providers.contains_key(name),
                };
                (entry.to_string(), available)
            }
            Err(e) => {
                problems.push(e.to_string());
                (text.clone(), false)
            }
        };
        lookup.push((entry, available));
    }
    if exists && let Some(why) = crate::commands::git::missing_setup(context) {
        problems.push(why);
    }
    let backups = crate::store::backup::list(&vault_path)
        .map(|b| b.len())
        .unwrap_or(0);

    // Each cache's size and oldest entry (never a value).
    let cache = crate::commands::cache::status_lines(context);
    if args.json {
        let report = json!({
            "cache": cache,
            "usable": opens || (!exists && !vault_looked_up),
            "vault": {
                "path": vault_path,
                "source": context.vault_location.source.to_string(),
                "exists": exists,
                "opens": opens,
                "protection": protection,
                "secrets": secrets,
                "due": due,
                "stale": stale,
            },
            "identity": {
                "path": identity_file,
                "source": identity.source_name(),
                "exists": identity_present,
            },
            "profile": context.profile,
            "config": {
                "path": config.path,
                "source": config.source.to_string(),
                "exists": config.path.exists(),
            },
            "backups": { "directory": backup_dir(&vault_path), "count": backups },
            "lookup": lookup
                .iter()
                .map(|(entry, available)| json!({"entry": entry, "available": available}))
                .collect::<Vec<_>>(),
            "providers": providers
                .iter()
                .map(|(name, path)| json!({"name": name, "path": path}))
                .collect::<Vec<_>>(),
            "problems": problems,
        });
        print_stdout(&format!("{report:#}\n"))?;
    } else {
        let mut out = String::new();
        let state = match (exists, opens) {
            (false, _) if !vault_looked_up => {
                "missing (not used: the lookup order has no vault)".to_string()
            }
            (false, _) => "missing".to_string(),
            (true, false) => "does not open".to_string(),
            (true, true) => format!(
                "opens; {} secrets{}{}; {}",
                secrets.unwrap_or(0),
                match due {
                    Some(n) if n > 0 => format!(", {n} due for rotation (vault list --due)"),
                    _ => String::new(),
                },
                match stale {
                    Some(n) if n > 0 => {
                        format!(", {n} stale since a removal (vault list --stale)")
                    }
                    _ => String::new(),
                },
                protection.as_deref().unwrap_or("")
            ),
        };
        out.push_str(&format!(
            "vault:    {} (from {}): {state}\n",
            vault_path.display(),
            context.vault_location.source
        ));
        let identity_state = if identity_present {
            "present"
        } else {
            "missing"
        };
        out.push_str(&format!(
            "identity: {}: {identity_state}\n",
            identity.describe()
        ));
        if let Some(profile) = &context.profile {
            out.push_str(&format!("profile:  {profile}\n"));
        }
        let config_state = if config.path.exists() {
            "present"
        } else {
            "absent, defaults apply"
        };
        out.push_str(&format!(
            "config:   {} (from {}): {config_state}\n",
            config.path.display(),
            config.source
        ));
        out.push_str(&format!(
            "backups:  {} in {}\n",
            backups,
            backup_dir(&vault_path).display()
        ));
        let chain: Vec<String> = lookup
            .iter()
            .map(|(entry, available)| {
                format!(
                    "{entry} ({})",
                    if *available {
                        "available"
                    } else {
                        "unavailable"
                    }
                )
            })
            .collect();
        out.push_str(&format!("lookup:   {}\n", chain.join(", ")));
        let found: Vec<String> = providers
            .iter()
            .map(|(name, path)| format!("{name} ({})", path.display()))
            .collect();
        out.push_str(&format!(
            "providers: {}\n",
            if found.is_empty() {
                "none found".to_string()
            } else {
                found.join(", ")
            }
        ));
        for line in &cache {
            out.push_str(&format!("{line}\n"));
        }
        for problem in &problems {
            out.push_str(&format!("problem:  {problem}\n"));
        }
        print_report(&out)?;
    }
    let usable = opens || (!exists && !vault_looked_up);
    Ok(if usable { exit::OK } else { exit::LOCKED_OUT })
}
