//! `vault init`: an identity (unless one exists) and an empty vault encrypted to it.

use age::secrecy::{ExposeSecret, SecretString};

use crate::cli::InitArgs;
use crate::commands::{Context, SUCCESS, print_stdout};
use crate::error::{Error, Result};
use crate::store::document::Document;
use crate::store::{Protection, identity, recipients};

pub fn run(context: &Context, args: &InitArgs) -> Result<u8> {
    let vault = context.vault();
    if args.new_identity {
        return new_identity(context, vault.exists(), args.force);
    }
    if args.project {
        return project(context);
    }
    if vault.exists() {
        if args.recipients.is_empty() && !args.passphrase && !args.armor {
            // Like `git init`: asking again for what exists is not an error.
            context.note(&format!(
                "a vault already exists at {}; nothing changed",
                vault.path().display()
            ));
            return SUCCESS;
        }
        return Err(Error::Failed(format!(
            "a vault already exists at {}; change its recipients with 'vault recipients add|remove', or choose another path with --vault",
            vault.path().display()
        )));
    }
    for recipient in &args.recipients {
        recipients::parse(recipient)?;
    }
    let mut report = String::new();
    if args.passphrase {
        let passphrase = new_passphrase(context)?;
        vault.create(
            Document::new(Vec::new()),
            &Protection::Passphrase(passphrase),
            args.armor,
        )?;
        report.push_str(&format!("vault: {}\n", vault.path().display()));
        report.push_str("protection: passphrase (scrypt)\n");
    } else {
        let location = context.identity_location()?;
        let (own, created) = if location.path.exists() {
            // An identity every later command would refuse is no identity to build on.
            crate::store::fs::check_private_file(&location.path, "identity file")?;
            (identity::public_recipient(&location.path), false)
        } else {
            (Some(identity::create(&location.path)?.to_string()), true)
        };
        let mut all: Vec<String> = own.iter().cloned().collect();
        for recipient in &args.recipients {
            if !all.iter().any(|r| recipients::same_key(r, recipient)) {
                all.push(recipient.trim().to_string());
            }
        }
        if own.is_none() && args.recipients.is_empty() {
            return Err(Error::Failed(format!(
                "the identity {} holds no age X25519 key to derive a recipient from; pass the matching public key with --recipient",
                location.path.display()
            )));
        }
        vault.create(
            Document::new(all.clone()),
            &Protection::Recipients,
            args.armor,
        )?;
        let state = if created { "created" } else { "existing" };
        report.push_str(&format!("vault: {}\n", vault.path().display()));
        report.push_str(&format!(
            "identity: {} ({state})\n",
            location.path.display()
        ));
        for recipient in &all {
            report.push_str(&format!("recipient: {recipient}\n"));
        }
        if created {
            context.note(&format!(
                "keep a copy of {} somewhere safe: without it the vault cannot be opened; 'vault identity export-phrase' shows it as 24 words to write on paper",
                location.path.display()
            ));
        }
    }
    print_stdout(&report)?;
    SUCCESS
}

fn new_passphrase(context: &Context) -> Result<SecretString> {
    if let Some(passphrase) = context.passphrase_from_file()? {
        return Ok(passphrase);
    }
    if !context.can_prompt() {
        return Err(Error::Usage(format!(
            "vault cannot ask for a passphrase ({}); put it in a file (chmod 600) and set VAULT_PASSPHRASE_FILE to its path",
            context.why_no_prompt()
        )));
    }
    let first = context.prompt_hidden("New vault passphrase: ")?;
    if first.expose_secret().is_empty() {
        return Err(Error::Usage("the passphrase must not be empty".into()));
    }
    let second = context.prompt_hidden("Repeat the passphrase: ")?;
    if first.expose_secret() != second.expose_secret() {
        return Err(Error::Usage(
            "the passphrases do not match; nothing was created".into(),
        ));
    }
    Ok(first)
}

/// `vault init --new-identity`: a new identity at the identity path, for someone whose
/// identity is lost. It cannot open a vault encrypted before it existed, so with a vault
/// present it takes --force, and prints the public key a remaining recipient must add.
fn new_identity(context: &Context, vault_exists: bool, force: bool) -> Result<u8> {
    let location = context.identity_location()?;
    if location.path.exists() {
        return Err(Error::Failed(format!(
            "an identity already exists at {}; vault never overwrites one",
            location.path.display()
        )));
    }
    if vault_exists && !force {
        return Err(Error::Failed(format!(
            "the vault {} is encrypted to your old identity, which a new one cannot replace: restore your copy of the old identity to {} instead. If it is lost, 'vault init --new-identity --force' makes a new one, and someone who can still open the vault adds its public key with 'vault recipients add'",
            context.vault_location.path.display(),
            location.path.display()
        )));
    }
    let recipient = identity::create(&location.path)?;
    print_stdout(&format!(
        "identity: {} (created)\nrecipient: {recipient}\n",
        location.path.display()
    ))?;
    if vault_exists {
        context.note(&format!(
            "this identity cannot open {} yet: ask someone who can to run 'vault recipients add {recipient}'",
            context.vault_location.path.display()
        ));
    }
    SUCCESS
}

/// `vault init --project`: a commented secretsd.toml here, never over an existing one.
fn project(context: &Context) -> Result<u8> {
    let path = std::path::Path::new(crate::manifest::PROJECT_MANIFEST);
    if path.exists() {
        return Err(Error::Failed(format!(
            "{} exists already; vault never overwrites it",
            crate::manifest::PROJECT_MANIFEST
        )));
    }
    // A manifest holds references, not values: readable like any project file.
    crate::store::fs::write_atomic_with_mode(
        path,
        crate::manifest::PROJECT_TEMPLATE.as_bytes(),
        true,
        0o644,
    )?;
    context.note(&format!(
        "wrote {}; add your variables under [env], then 'vault check' and 'vault run -- CMD'",
        crate::manifest::PROJECT_MANIFEST
    ));
    SUCCESS
}

/// `vault identity export-phrase` and `vault identity recover`.
pub fn identity(context: &Context, command: &crate::cli::IdentityCommand) -> Result<u8> {
    use crate::cli::IdentityCommand;
    match command {
        IdentityCommand::ExportPhrase { yes } => {
            let location = context.identity_location()?;
            crate::store::fs::check_private_file(&location.path, "identity file")?;
            let contents = zeroize::Zeroizing::new(
                std::fs::read_to_string(&location.path)
                    .map_err(|e| Error::io("read", &location.path, e))?,
            );
            let Some(found) = identity::x25519_identity(&contents) else {
                return Err(Error::Usage(format!(
                    "{} holds no age X25519 identity; a recovery phrase exists only for those (an SSH or plugin identity has its own backup)",
                    location.path.display()
                )));
            };
            if !yes {
                if !context.can_prompt() {
                    return Err(Error::Usage(format!(
                        "the recovery phrase is your identity; vault shows it only after you confirm on a terminal ({}), or with --yes",
                        context.why_no_prompt()
                    )));
                }
                let answer = context.prompt_line(
                    "The recovery phrase opens everything this identity opens. Show it? Type yes: ",
                )?;
                if answer.trim() != "yes" {
                    context.note("not shown");
                    return SUCCESS;
                }
            }
            let phrase = identity::recovery_phrase(&found)?;
            print_stdout(&format!("{}\n", phrase.as_str()))?;
            SUCCESS
        }
        IdentityCommand::Recover { output } => {
            let path = match output {
                Some(path) => path.clone(),
                None => context.identity_location()?.path,
            };
            let phrase = if context.can_prompt() {
                zeroize::Zeroizing::new(
                    context
                        .prompt_hidden("Recovery phrase (24 words): ")?
                        .expose_secret()
                        .to_string(),
                )
            } else {
                let bytes = crate::commands::read_stdin_limited(4096)?;
                zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
            };
            let recovered = identity::from_recovery_phrase(&phrase)?;
            let recipient = identity::write(&path, &recovered)?;
            print_stdout(&format!(
                "identity: {} (recovered)\nrecipient: {recipient}\n",
                path.display()
            ))?;
            SUCCESS
        }
    }
}
