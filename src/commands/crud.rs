//! `vault set`, `get`, `list`, `exists`, `rm`, `mv`: the secrets in the vault.

use std::io::{self, IsTerminal};

use age::secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::cli::{ExistsArgs, GetArgs, ListArgs, MvArgs, RmArgs, SetArgs};
use crate::commands::{Context, SUCCESS, print_stdout, read_stdin_limited};
use crate::error::{Error, Result, exit};
use crate::names::{MAX_VALUE_BYTES, quote_name, validate_name, validate_value};
use crate::resolve::Address;
use crate::secret_meta;
use crate::store::Change;
use crate::store::document::{Entry, timestamp_now};
use crate::store::recipients;
use crate::value;
use crate::value::strip_one_newline;

/// Where `vault set` takes the value from, decided before anything is read.
enum ValueSource<'a> {
    Generated,
    Argument(&'a str),
    Stdin,
    Prompt,
}

fn value_source<'a>(context: &Context, args: &'a SetArgs) -> Result<ValueSource<'a>> {
    Ok(match args.value.as_deref() {
        _ if args.generate => ValueSource::Generated,
        Some("-") => ValueSource::Stdin,
        Some(value) => ValueSource::Argument(value),
        None if !io::stdin().is_terminal() => ValueSource::Stdin,
        None if context.global.no_input => {
            return Err(Error::Usage(format!(
                "no value for {} and --no-input forbids prompting; pipe the value on stdin (printf %s \"$VALUE\" | vault set {}) or use --generate",
                args.name, args.name
            )));
        }
        None => ValueSource::Prompt,
    })
}

fn read_value(context: &Context, args: &SetArgs) -> Result<SecretString> {
    let name = &args.name;
    match value_source(context, args)? {
        ValueSource::Generated => value::generate(usize::from(args.length), args.charset.into()),
        ValueSource::Argument(value) => {
            context.note(&format!(
                "warning: a value given as an argument is visible in the process list and your shell history; prefer the prompt or stdin (vault set {name} < file)"
            ));
            Ok(SecretString::from(value.to_string()))
        }
        ValueSource::Stdin => {
            let bytes = read_stdin_limited(MAX_VALUE_BYTES + 2)?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                Error::BadData(format!("the value for {name} on stdin is not valid UTF-8"))
            })?;
            let value = strip_one_newline(text);
            // The command line was right; what arrived on stdin was not a value.
            if value.is_empty() {
                return Err(Error::BadData(format!(
                    "stdin was empty (or only a line break), so there is no value for {name}; pipe the value on stdin (printf %s \"$VALUE\" | vault set {name}), or use --generate"
                )));
            }
            Ok(SecretString::from(value.to_string()))
        }
        ValueSource::Prompt => context.prompt_hidden(&format!("Value for {name}: ")),
    }
}

/// A provider key from an address, which must not be empty.
fn provider_key(provider: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::Usage(format!(
            "the address {provider}: names no key; write {provider}:KEY"
        )));
    }
    Ok(())
}

/// The tags and rotation period `set` was given, checked before anything is read.
struct MetadataChange {
    period: Option<Option<u64>>,
}

impl MetadataChange {
    fn from_args(args: &SetArgs) -> Result<Self> {
        for tag in args.tags.iter().chain(&args.untags) {
            secret_meta::check_tag(tag)?;
        }
        let period = args
            .rotate_every
            .as_deref()
            .map(secret_meta::parse_period)
            .transpose()?;
        Ok(MetadataChange { period })
    }

    fn given(&self, args: &SetArgs) -> bool {
        !args.tags.is_empty() || !args.untags.is_empty() || self.period.is_some()
    }

    fn apply(&self, args: &SetArgs, entry: &mut Entry) {
        secret_meta::apply_tags(entry, &args.tags, &args.untags);
        if let Some(period) = self.period {
            entry.set_rotate_every(period);
        }
    }
}

pub fn set(context: &Context, args: &SetArgs) -> Result<u8> {
    let address = Address::parse(&args.name)?;
    let metadata = MetadataChange::from_args(args)?;
    if let Address::Provider { provider, key } = &address {
        provider_key(provider, key)?;
        if metadata.given(args) || args.keep_value {
            return Err(Error::Usage(format!(
                "tags, --rotate-every and --keep-value are kept in the vault, not by provider {provider}"
            )));
        }
    }
    if args.keep_value {
        return set_metadata(context, args, &metadata);
    }
    let personal = args.personal || args.group.as_deref() == Some("me");
    if (personal || args.group.is_some()) && matches!(address, Address::Provider { .. }) {
        return Err(Error::Usage(
            "personal and group values are kept in the vault, not by a provider".into(),
        ));
    }
    if personal {
        return set_personal(context, args);
    }
    if let Some(group) = args.group.as_deref().filter(|g| *g != "everyone") {
        return crate::commands::group::set_value(context, args, group, read_value(context, args)?);
    }
    let value = read_value(context, args)?;
    validate_value(&args.name, value.expose_secret())?;
    let length = value.expose_secret().chars().count();
    if let Address::Provider { provider, key } = address {
        context.with_resolver(|resolver| {
            let config = resolver.provider_config(&provider)?;
            resolver
                .providers()
                .set(&provider, &config, &key, value.into())
        })?;
        context.note(&format!("stored {key} in provider {provider}"));
        return SUCCESS;
    }
    let vault = context.vault();
    let (existed, backup) = vault.update(
        context,
        &context.config.backup,
        Change {
            operation: "set",
            keep_access: false,
        },
        |document| {
            if let Some(value) = document.sealed().groups.get(&args.name) {
                return Err(Error::Usage(format!(
                    "{} is a value of the group {}: set it with --group {}, or 'vault rm {}' first to make it shared",
                    args.name, value.group, value.group, args.name
                )));
            }
            let existed = document.contains(&args.name);
            document.set(
                &args.name,
                value,
                args.description.clone(),
                &timestamp_now(),
            )?;
            document.change_entry(&args.name, |entry| metadata.apply(args, entry))?;
            Ok::<_, Error>((existed, Some(vec![args.name.clone()])))
        },
    )?;
    if let Some(backup) = backup {
        context.explain(&format!(
            "backup of the previous vault: {}",
            backup.display()
        ));
    }
    // A grant of this name carries a copy of the value: it gets the new one.
    crate::commands::agent::refresh_grants(context, std::slice::from_ref(&args.name));
    let verb = if existed { "updated" } else { "stored" };
    let how = if args.generate {
        format!(" (generated, {length} characters, not shown)")
    } else {
        String::new()
    };
    context.note(&format!("{verb} {}{how}", args.name));
    SUCCESS
}

/// `set --personal`: this member's own value of a shared secret, sealed to them alone.
fn set_personal(context: &Context, args: &SetArgs) -> Result<u8> {
    validate_name(&args.name)?;
    let recipient = crate::commands::overlay::own_recipient(context).ok_or_else(|| {
        Error::Usage(
            "a personal value is sealed to your age X25519 identity, and yours is not one (an SSH key or a plugin identity reads, but has no personal values)".into(),
        )
    })?;
    let value = read_value(context, args)?;
    validate_value(&args.name, value.expose_secret())?;
    let scope = crate::store::sealed::personal_scope(&recipient);
    context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "set",
            keep_access: false,
        },
        |document| {
            if !document.contains(&args.name) {
                return Err(Error::NotFound(format!(
                    "no shared secret named {} to override: set it first ('vault set {}'), then your personal value",
                    args.name, args.name
                )));
            }
            if !document.recipients.iter().any(|r| recipients::same_key(r, &recipient)) {
                return Err(Error::LockedOut(
                    "your identity is not a recipient of this vault, so a personal value would be yours alone to read nowhere".into(),
                ));
            }
            let signer = &context.own().ok_or_else(|| Error::Usage("a personal value is signed by its writer, and your identity has no writer key".into()))?.key;
            let sealed = crate::store::sealed::seal(&args.name, &scope, &crate::store::sealed::vault_of(document.membership()), std::slice::from_ref(&recipient), &value, signer)?;
            document.set_personal(&args.name, &recipient, sealed);
            Ok::<_, Error>(((), Some(vec![args.name.clone()])))
        },
    )?;
    context.note(&format!(
        "stored your personal value of {} (sealed to you alone; everyone else keeps the shared value)",
        args.name
    ));
    crate::commands::agent::refresh_grants(context, std::slice::from_ref(&args.name));
    SUCCESS
}

/// `set --keep-value`: the tags, period or description of a secret that exists.
fn set_metadata(context: &Context, args: &SetArgs, metadata: &MetadataChange) -> Result<u8> {
    if !metadata.given(args) && args.description.is_none() {
        return Err(Error::Usage(
            "--keep-value changes what is kept beside the value: give --tag, --untag, --rotate-every or --description".into(),
        ));
    }
    context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "set",
            keep_access: false,
        },
        |document| {
            let found = document.change_entry(&args.name, |entry| {
                metadata.apply(args, entry);
                if args.description.is_some() {
                    entry.description = args.description.clone();
                }
            })?;
            if !found {
                return Err(not_found(context, &args.name));
            }
            Ok::<_, Error>(((), Some(vec![args.name.clone()])))
        },
    )?;
    context.note(&format!("updated what is kept beside {}", args.name));
    SUCCESS
}

fn not_found(context: &Context, name: &str) -> Error {
    Error::NotFound(format!(
        "no secret named {name} in the vault {}",
        context.vault_location.path.display()
    ))
}

fn entry_metadata(entry: &Entry) -> serde_json::Value {
    json!({
        "source": "vault",
        "created": entry.created,
        "updated": entry.updated,
        "description": entry.description,
    })
}

/// Prints one value as `get` does: masked, revealed, or as JSON.
fn print_value(args: &GetArgs, value: &SecretString, metadata: serde_json::Value) -> Result<()> {
    if args.json {
        let mut object = metadata;
        object["name"] = json!(args.name);
        object["masked"] = json!(!args.reveal);
        object["value"] = if args.reveal {
            json!(value.expose_secret())
        } else {
            json!(value::mask(value))
        };
        let text = zeroize::Zeroizing::new(object.to_string());
        print_stdout(&format!("{}\n", text.as_str()))
    } else if args.reveal {
        // Exactly the value; a newline only for a human at a terminal.
        print_stdout(value.expose_secret())?;
        if io::stdout().is_terminal() {
            print_stdout("\n")?;
        }
        Ok(())
    } else {
        print_stdout(&format!("{}\n", value::mask(value)))
    }
}

/// Reads one address: a provider's key, or a name along the lookup chain.
fn read_address(context: &Context, address: &Address) -> Result<(SecretString, serde_json::Value)> {
    match address {
        Address::Provider { provider, key } => {
            provider_key(provider, key)?;
            context.with_resolver(|resolver| {
                let mut answer = resolver.fetch(provider, std::slice::from_ref(key))?;
                match answer.values.remove(key) {
                    Some(value) => Ok((value.into_secret(), json!({"source": provider}))),
                    None => {
                        let kind = answer.errors.get(key).map(|e| e.kind);
                        // The provider's words on why (a hint such as OpenBao's "leave
                        // out data/"), with what it was sent taken out.
                        let detail = answer
                            .errors
                            .get(key)
                            .and_then(|e| e.message.as_deref())
                            .map(|m| format!(": {}", resolver.providers().redact(provider, m)))
                            .unwrap_or_default();
                        let message = format!(
                            "provider {provider} has no value for {key} ({}){detail}",
                            kind.map(|k| k.to_string()).unwrap_or_default()
                        );
                        Err(match kind {
                            Some(secretsd_protocol::ErrorKind::NotFound) | None => {
                                Error::NotFound(message)
                            }
                            Some(_) => Error::Provider(message),
                        })
                    }
                }
            })
        }
        Address::Vault(name) if context.vault_only_lookup() => {
            // Only this secret is decoded; the others are skipped over.
            let mut document = context.vault().read(context)?.select_one(name)?;
            let withheld = crate::commands::overlay::overlay_document(context, &mut document)?;
            if let Some((_, group)) = withheld.iter().find(|(n, _)| n == name) {
                return Err(Error::LockedOut(format!(
                    "{name} is a value of the group {group}, and you are not a member of {group}: an owner adds you with 'vault group add {group} YOUR_NAME'"
                )));
            }
            let entry = document
                .get(name)?
                .ok_or_else(|| not_found(context, name))?;
            let metadata = entry_metadata(entry);
            Ok((entry.value().clone(), metadata))
        }
        Address::Vault(name) => context.with_resolver(|resolver| {
            let mut found = resolver.lookup(std::slice::from_ref(name))?;
            match found.remove(name) {
                Some(hit) => Ok((hit.value, json!({"source": hit.source}))),
                None => Err(Error::NotFound(format!(
                    "no secret named {name} in {}",
                    resolver.chain_description()
                ))),
            }
        }),
    }
}

pub fn get(context: &Context, args: &GetArgs) -> Result<u8> {
    context.use_cache_args(&args.cache);
    let address = Address::parse(&args.name)?;
    let (value, metadata) = read_address(context, &address)?;
    // Which place answered (env, a .env, the vault, a provider), never the value.
    if let Some(source) = metadata.get("source").and_then(|s| s.as_str()) {
        context.explain(&format!(
            "{}: from {}",
            crate::names::printable(&args.name, false),
            crate::names::printable(source, false)
        ));
    }
    print_value(args, &value, metadata)?;
    SUCCESS
}

pub fn list(context: &Context, args: &ListArgs) -> Result<u8> {
    if let Some(address) = &args.address {
        return list_provider(context, address, args.json);
    }
    if let Some(tag) = &args.tag {
        secret_meta::check_tag(tag)?;
    }
    let opened = context.vault_for_names().open(context)?;
    let mut secrets = opened
        .document
        .entries()
        .collect::<secretsd_store::error::Result<Vec<_>>>()?;
    let now = std::time::SystemTime::now();
    let stale = opened.document.stale();
    let sealed = opened.document.sealed();
    let mine = crate::commands::overlay::own_recipient(context);
    // Only for the table, and only this reader's own: each opened to say when it was sealed.
    let own_sealed = if args.json || sealed.personal.is_empty() {
        Default::default()
    } else {
        crate::commands::overlay::Opener::new(context).own_sealed_at(&sealed)?
    };
    let own_mark = |name: &str| -> Option<String> {
        own_sealed.get(name).map(|state| match state {
            Ok(at) => format!(
                " [personal: yours wins here, sealed {}]",
                crate::names::printable(at, false)
            ),
            Err(why) => format!(
                " [personal: yours refused, not used: {}]",
                crate::names::printable(why, false)
            ),
        })
    };
    let personal = |name: &str| -> (bool, usize) {
        let by = sealed.personal.get(name);
        let own = by.is_some_and(|by| {
            mine.as_ref()
                .is_some_and(|m| by.keys().any(|r| recipients::same_key(r, m)))
        });
        (own, by.map_or(0, |by| by.len()))
    };
    secrets.retain(|(name, entry)| {
        args.tag
            .as_ref()
            .is_none_or(|tag| entry.tags().contains(tag))
            && (!args.due || entry.is_due(now))
            && (!args.stale || stale.contains_key(*name))
    });
    let filtered = args.tag.is_some() || args.due || args.stale;
    // A group's values: their names and group, for everyone; never a value.
    let groups: Vec<(&String, &crate::store::sealed::GroupValue)> = sealed
        .groups
        .iter()
        .filter(|(name, _)| {
            args.tag.is_none() && !args.due && (!args.stale || stale.contains_key(*name))
        })
        .collect();
    if args.json {
        let group_items = groups.iter().map(|(name, value)| {
            json!({
                "name": name,
                "group": value.group,
                "updated": value.updated,
                "stale_since": stale.get(*name).map(|removals| removals
                    .iter()
                    .map(|r| json!({"who": r.who, "removed": r.removed}))
                    .collect::<Vec<_>>()),
            })
        });
        let mut items: Vec<_> = secrets
            .iter()
            .map(|(name, entry)| {
                json!({
                    "name": name,
                    "created": entry.created,
                    "updated": entry.updated,
                    "description": entry.description,
                    "tags": entry.tags(),
                    "rotate_every": entry.rotate_every().map(secret_meta::format_period),
                    "due_at": secret_meta::due_date(entry),
                    "due": entry.is_due(now),
                    "personal": personal(name).0,
                    "overrides": personal(name).1,
                    "stale_since": stale.get(*name).map(|removals| removals
                        .iter()
                        .map(|r| json!({"who": r.who, "removed": r.removed}))
                        .collect::<Vec<_>>()),
                })
            })
            .collect();
        items.extend(group_items);
        items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot format the list: {e}")))?;
        return print_stdout(&format!("{text}\n")).map(|()| exit::OK);
    }
    if secrets.is_empty() && groups.is_empty() && filtered {
        context.note("no secret matches");
        return SUCCESS;
    }
    if secrets.is_empty() && groups.is_empty() {
        context.note(&format!(
            "the vault {} holds no secrets yet; add one with 'vault set NAME'",
            context.vault_location.path.display()
        ));
        return SUCCESS;
    }
    // Capped: a longer name (a forged vault holds any) runs past its column rather than
    // widening every line, and a format width is bounded.
    let width = secrets
        .iter()
        .map(|(n, _)| crate::names::printable(n, false).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, crate::names::MAX_COLUMN);
    let mut out = format!(
        "{:width$}  {:20}  {:20}  DESCRIPTION\n",
        "NAME", "CREATED", "UPDATED"
    );
    for (name, entry) in &secrets {
        let line = format!(
            "{:width$}  {:20}  {:20}  {}{}",
            crate::names::printable(name, false),
            crate::names::printable(&entry.created, false),
            crate::names::printable(&entry.updated, false),
            crate::names::printable(entry.description.as_deref().unwrap_or(""), false),
            marks(
                entry,
                now,
                stale.get(*name).map(Vec::as_slice),
                personal(name),
                own_mark(name)
            )
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for (name, value) in &groups {
        let mut line = format!(
            "{:width$}  {:20}  {:20}  [group {}: sealed to its members]",
            crate::names::printable(name, false),
            "",
            crate::names::printable(&value.updated, false),
            crate::names::printable(&value.group, false)
        );
        for removal in stale.get(*name).into_iter().flatten() {
            line.push_str(&format!(
                " [stale: unchanged since {} was removed at {}]",
                crate::names::printable(&removal.who, false),
                crate::names::printable(&removal.removed, false)
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    print_stdout(&out)?;
    SUCCESS
}

/// What follows the description in `list`: tags, the rotation date, and whether it is due.
fn marks(
    entry: &Entry,
    now: std::time::SystemTime,
    stale: Option<&[secretsd_store::document::Removal]>,
    (own, overrides): (bool, usize),
    own_mark: Option<String>,
) -> String {
    let mut marks = String::new();
    if own {
        marks.push_str(
            own_mark
                .as_deref()
                .unwrap_or(" [personal: yours wins here]"),
        );
    }
    let others = overrides - usize::from(own);
    if others > 0 {
        marks.push_str(&format!(" [personal values of {others} other(s)]"));
    }
    let tags = entry.tags();
    if !tags.is_empty() {
        marks.push_str(&format!(
            " [tags: {}]",
            crate::names::printable(&tags.join(","), false)
        ));
    }
    if let Some(due) = secret_meta::due_date(entry) {
        let state = if entry.is_due(now) {
            "due since"
        } else {
            "due"
        };
        marks.push_str(&format!(" [rotation {state} {due}]"));
    }
    for removal in stale.into_iter().flatten() {
        marks.push_str(&format!(
            " [stale: unchanged since {} was removed at {}]",
            crate::names::printable(&removal.who, false),
            crate::names::printable(&removal.removed, false)
        ));
    }
    marks
}

fn list_provider(context: &Context, address: &str, as_json: bool) -> Result<u8> {
    let Some((provider, prefix)) = address
        .split_once(':')
        .filter(|(p, _)| crate::providers::is_provider_name(p))
    else {
        return Err(Error::Usage(format!(
            "{address:?} is not a provider address; write PROVIDER: or PROVIDER:PREFIX"
        )));
    };
    let listed = context.with_resolver(|resolver| {
        let config = resolver.provider_config(provider)?;
        let prefix = (!prefix.is_empty()).then_some(prefix);
        resolver.providers().list(provider, &config, prefix)
    })?;
    // A provider's keys are its own text: one a line, so a line break or any other control
    // character in a key is shown escaped, never as a second key or a terminal command.
    let text = if as_json {
        format!("{}\n", json!(listed.keys))
    } else {
        listed
            .keys
            .iter()
            .map(|k| format!("{}\n", crate::names::printable(k, false)))
            .collect()
    };
    print_stdout(&text)?;
    SUCCESS
}

pub fn exists(context: &Context, args: &ExistsArgs) -> Result<u8> {
    let address = Address::parse(&args.name)?;
    match read_address(context, &address) {
        Ok(_) => SUCCESS,
        Err(Error::NotFound(message)) => {
            context.explain(&message);
            Ok(exit::NOT_FOUND)
        }
        Err(e) => Err(e),
    }
}

pub fn rm(context: &Context, args: &RmArgs) -> Result<u8> {
    if args.personal {
        return rm_personal(context, args);
    }
    let addresses = args
        .names
        .iter()
        .map(|n| Address::parse(n))
        .collect::<Result<Vec<_>>>()?;
    if addresses
        .iter()
        .any(|a| matches!(a, Address::Provider { .. }))
    {
        if addresses.iter().any(|a| matches!(a, Address::Vault(_))) {
            return Err(Error::Usage(
                "remove vault secrets and provider keys in separate commands".into(),
            ));
        }
        return rm_provider_keys(context, &addresses, args.force);
    }
    let (removed, _) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "rm",
            keep_access: false,
        },
        |document| {
            let mut removed = Vec::new();
            for name in &args.names {
                if let Some(value) = document.sealed().groups.get(name) {
                    crate::commands::group::require_member(context, document, &value.group, name)?;
                }
                if document.remove(name)?.is_some() || document.remove_group_value(name) {
                    removed.push(name.clone());
                } else if !args.force {
                    return Err(not_found(context, name));
                }
            }
            let touched = (!removed.is_empty()).then(|| removed.clone());
            Ok((removed, touched))
        },
    )?;
    for name in &removed {
        context.note(&format!("removed {name}"));
    }
    // A grant holding a removed name holds it no more.
    crate::commands::agent::refresh_grants(context, &removed);
    SUCCESS
}

/// `rm --personal`: drops this member's own values; the shared ones stay.
fn rm_personal(context: &Context, args: &RmArgs) -> Result<u8> {
    let recipient = crate::commands::overlay::own_recipient(context).ok_or_else(|| {
        Error::Usage(
            "your identity has no personal values (it is not an age X25519 identity)".into(),
        )
    })?;
    for name in &args.names {
        validate_name(name)?;
    }
    let (removed, _) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "rm",
            keep_access: false,
        },
        |document| {
            let mut removed = Vec::new();
            for name in &args.names {
                if document.remove_personal(name, &recipient) {
                    removed.push(name.clone());
                } else if !args.force {
                    return Err(Error::NotFound(format!(
                        "you have no personal value of {name} in the vault {}",
                        context.vault_location.path.display()
                    )));
                }
            }
            let touched = (!removed.is_empty()).then(|| removed.clone());
            Ok((removed, touched))
        },
    )?;
    for name in &removed {
        context.note(&format!(
            "removed your personal value of {name}; the shared value is yours again"
        ));
    }
    crate::commands::agent::refresh_grants(context, &removed);
    SUCCESS
}

fn rm_provider_keys(context: &Context, addresses: &[Address], force: bool) -> Result<u8> {
    context.with_resolver(|resolver| {
        for address in addresses {
            let Address::Provider { provider, key } = address else {
                continue;
            };
            provider_key(provider, key)?;
            let config = resolver.provider_config(provider)?;
            match resolver.providers().delete(provider, &config, key) {
                Ok(()) => context.note(&format!("removed {key} from provider {provider}")),
                Err(Error::NotFound(_)) if force => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })?;
    SUCCESS
}

pub fn mv(context: &Context, args: &MvArgs) -> Result<u8> {
    validate_name(&args.old)?;
    validate_name(&args.new)?;
    if args.old == args.new {
        return Err(Error::Usage(format!(
            "{} and {} are the same name",
            quote_name(&args.old),
            quote_name(&args.new)
        )));
    }
    let (overrides, _) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "mv",
            keep_access: false,
        },
        |document| {
            if !document.contains(&args.old) {
                return Err(not_found(context, &args.old));
            }
            if document.contains(&args.new) && !args.force {
                return Err(Error::Failed(format!(
                    "a secret named {} exists already; pass --force to replace it",
                    args.new
                )));
            }
            if document.sealed().groups.contains_key(&args.new) {
                return Err(Error::Usage(format!(
                    "{} is a value of a group; a name is shared or a group's, not both",
                    args.new
                )));
            }
            // Overrides are sealed to their name: they cannot follow it.
            let overrides = document
                .sealed()
                .personal
                .get(&args.old)
                .map_or(0, |by| by.len());
            document.rename(&args.old, &args.new, &timestamp_now())?;
            Ok((overrides, Some(vec![args.old.clone(), args.new.clone()])))
        },
    )?;
    context.note(&format!("renamed {} to {}", args.old, args.new));
    if overrides > 0 {
        context.note(&format!(
            "{overrides} personal value(s) of {} were dropped: each is sealed to its name; their owners set them again under {}",
            args.old, args.new
        ));
    }
    crate::commands::agent::refresh_grants(context, &[args.old.clone(), args.new.clone()]);
    SUCCESS
}
