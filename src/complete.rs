//! Dynamic shell completion: secret names, provider names and provider addresses, offered
//! while the user types (clap_complete's dynamic engine calls these from the completion
//! scripts under `completions/`).
//!
//! Completion never prompts and never prints: a vault that needs a passphrase nobody
//! supplied (VAULT_PASSPHRASE_FILE), a missing identity or a broken provider simply yields
//! no candidates. Paths come from the environment and defaults (VAULT_FILE,
//! VAULT_IDENTITY, VAULT_CONFIG), since the shell hands over only the word being typed.

use std::ffi::OsStr;

use clap::CommandFactory;
use clap_complete::{ArgValueCompleter, CompletionCandidate};

use crate::cli::{Cli, GlobalArgs};
use crate::commands::Context;
use crate::providers;

/// What completes the values of an argument.
type Completer = fn(&OsStr) -> Vec<CompletionCandidate>;

/// Which arguments complete what: by subcommand path and argument id. They are attached
/// to the command line's definition here, so `cli` needs nothing of completion (which
/// needs `commands` to open the vault, which needs `cli`).
const COMPLETERS: &[(&[&str], &str, Completer)] = &[
    (&["set"], "name", addresses),
    (&["edit"], "name", secret_names),
    (&["get"], "name", addresses),
    (&["list"], "address", provider_addresses),
    (&["exists"], "name", addresses),
    (&["rm"], "names", addresses),
    (&["mv"], "old", secret_names),
    (&["exec"], "only", secret_names),
    (&["export"], "only", secret_names),
    (&["restore"], "backup", backup_ids),
    (&["rotate"], "secrets", secret_names),
    (&["sync"], "name", sync_profiles),
    (&["provider", "check"], "name", provider_names),
    (&["set"], "tags", tags),
    (&["set"], "untags", tags),
    (&["list"], "tag", tags),
    (&["set"], "group", set_groups),
    (&["group", "add"], "name", groups),
    (&["group", "remove"], "name", groups),
];

/// When a completion script calls `vault` with COMPLETE set: answer and exit.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(|| with_completers(Cli::command()))
        .var("COMPLETE")
        .complete();
}

/// The command line's definition with its completers attached.
fn with_completers(mut command: clap::Command) -> clap::Command {
    // The derive defers each subcommand's arguments until the command is built.
    command.build();
    for (path, arg, completer) in COMPLETERS {
        command = attach(command, path, arg, *completer);
    }
    command
}

fn attach(command: clap::Command, path: &[&str], arg: &str, completer: Completer) -> clap::Command {
    match path.split_first() {
        None => command.mut_arg(arg, |a| a.add(ArgValueCompleter::new(completer))),
        Some((name, rest)) => {
            command.mut_subcommand(*name, |sub| attach(sub, rest, arg, completer))
        }
    }
}

/// A context that can never prompt or print.
fn silent_context() -> Option<Context> {
    // An agent under a grant opens no vault, for completion either.
    if std::env::var_os("VAULT_GRANT").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    Context::new(GlobalArgs {
        vault: None,
        identity: None,
        config: None,
        quiet: true,
        verbose: false,
        no_input: true,
        profile: None,
        grant: None,
    })
    .ok()
}

/// The vault's secret names that start with `prefix`.
fn vault_names(context: &Context, prefix: &str) -> Vec<String> {
    context
        .vault_for_names()
        .read(context)
        .and_then(|plaintext| plaintext.names_starting_with(prefix))
        .unwrap_or_default()
}

/// `PROVIDER:` for every provider that can be found.
fn provider_prefixes() -> Vec<String> {
    providers::discover()
        .into_keys()
        .map(|name| format!("{name}:"))
        .collect()
}

/// Keys of one provider under `prefix`, asked with a short deadline: a completion that
/// hangs is worse than none.
fn provider_keys(context: &Context, provider: &str, prefix: &str) -> Vec<String> {
    let mut config = context.config.clone();
    config.providers.timeout_seconds = config.providers.timeout_seconds.min(2);
    let mut open_vault = || Ok(context.vault().open(context)?.document);
    let Ok(mut resolver) = crate::resolve::Resolver::new(&mut open_vault, &config, false) else {
        return Vec::new();
    };
    let Ok(provider_config) = resolver.provider_config(provider) else {
        return Vec::new();
    };
    let prefix = (!prefix.is_empty()).then_some(prefix);
    let keys = resolver
        .providers()
        .list(provider, &provider_config, prefix)
        .map(|listed| listed.keys)
        .unwrap_or_default();
    keys.into_iter()
        .filter(|key| shell_safe(key))
        .map(|key| format!("{provider}:{key}"))
        .collect()
}

/// Whether a provider's key may be offered: a shell inserts a completion into the command
/// line as it is (bash does not quote it) and lists candidates on the terminal, and a key
/// is chosen by whoever writes to the provider's store. So only characters no shell reads
/// as syntax and no terminal as a command; any other key is left out, not escaped.
fn shell_safe(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./@%+=,:".contains(&b))
}

fn candidates(values: Vec<String>, current: &str) -> Vec<CompletionCandidate> {
    let mut values: Vec<String> = values
        .into_iter()
        .filter(|v| v.starts_with(current))
        .collect();
    values.sort();
    values.dedup();
    values.into_iter().map(CompletionCandidate::new).collect()
}

/// Secret names, `PROVIDER:` prefixes, and `PROVIDER:KEY` once a provider is typed.
pub fn addresses(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let Some(context) = silent_context() else {
        return Vec::new();
    };
    if let Some((provider, prefix)) = current.split_once(':') {
        if providers::is_provider_name(provider) && providers::find(provider).is_ok() {
            return candidates(provider_keys(&context, provider, prefix), &current);
        }
        return Vec::new();
    }
    let mut values = vault_names(&context, &current);
    // `NAME:` starts with what was typed (no colon in it) only if a provider's name does,
    // and a start of a provider's name is one itself: anything else (`DB_PA`) spares the
    // search of every PATH directory.
    if current.is_empty() || providers::is_provider_name(&current) {
        values.extend(provider_prefixes());
    }
    candidates(values, &current)
}

/// Vault secret names only (for `mv` and `--only`; clap completes after the last comma).
pub fn secret_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let Some(context) = silent_context() else {
        return Vec::new();
    };
    candidates(vault_names(&context, &current), &current)
}

/// Provider names (for `vault provider check`).
pub fn provider_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    candidates(providers::discover().into_keys().collect(), &current)
}

/// `PROVIDER:` prefixes and keys (for `vault list ADDRESS`).
pub fn provider_addresses(current: &OsStr) -> Vec<CompletionCandidate> {
    let text = current.to_string_lossy();
    if text.contains(':') {
        return addresses(current);
    }
    candidates(provider_prefixes(), &text)
}

/// Backup ids, newest first (for `vault restore --backup`); no identity needed.
pub fn backup_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let Some(context) = silent_context() else {
        return Vec::new();
    };
    let ids = crate::store::backup::list(&context.vault_location.path)
        .map(|backups| backups.into_iter().map(|b| b.id).collect())
        .unwrap_or_default();
    candidates(ids, &current)
}

/// The tags the vault's secrets carry (for `--tag`, `--untag`, `list --tag`).
pub fn tags(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let Some(context) = silent_context() else {
        return Vec::new();
    };
    let Ok(opened) = context.vault_for_names().open(&context) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (_, entry) in opened.document.entries().flatten() {
        // Any member writes a tag: only shell-safe ones are offered.
        found.extend(entry.tags().into_iter().filter(|t| shell_safe(t)));
    }
    candidates(found, &current)
}

/// The vault's groups, from its membership block.
fn vault_groups() -> Vec<String> {
    let Some(context) = silent_context() else {
        return Vec::new();
    };
    let Ok(opened) = context.vault_for_names().open(&context) else {
        return Vec::new();
    };
    opened
        .document
        .membership()
        .and_then(|json| crate::store::membership::Membership::parse(json).ok())
        .map(|block| {
            block
                .body
                .groups
                .into_keys()
                .filter(|g| shell_safe(g))
                .collect()
        })
        .unwrap_or_default()
}

/// Group names (for `vault group add|remove`).
pub fn groups(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(vault_groups(), &current.to_string_lossy())
}

/// Group names and the reserved `me` and `everyone` (for `set --group`).
pub fn set_groups(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut names = vault_groups();
    names.extend(["me".to_string(), "everyone".to_string()]);
    candidates(names, &current.to_string_lossy())
}

/// Names of the `[sync.NAME]` profiles (for `vault sync`).
pub fn sync_profiles(current: &OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let Some(context) = silent_context() else {
        return Vec::new();
    };
    candidates(context.config.sync.keys().cloned().collect(), &current)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each completer names an argument that exists (clap panics on one that does not),
    /// and ends up on it.
    #[test]
    fn every_completer_is_attached_to_its_argument() {
        let command = with_completers(Cli::command());
        for (path, arg, _) in COMPLETERS {
            let mut sub = &command;
            for name in *path {
                sub = sub.find_subcommand(name).unwrap();
            }
            let arg = sub.get_arguments().find(|a| a.get_id() == *arg).unwrap();
            assert!(arg.get::<ArgValueCompleter>().is_some(), "{path:?} {arg:?}");
        }
    }
}
