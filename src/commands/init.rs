//! `vault init`: an identity (unless one exists) and an empty vault encrypted to it.

use age::secrecy::{ExposeSecret, SecretString};

use crate::cli::InitArgs;
use crate::commands::{Context, SUCCESS, print_report, print_stdout, trust};
use crate::error::{Error, Result};
use crate::store::document::Document;
use crate::store::identity::Own;
use crate::store::membership::{self, Joining, Member, Membership};
use crate::store::{Protection, identity, recipients};

/// Refuses, before anything is created, the places every later command would refuse:
/// the vault's directory (its lock, backups and temp files go there too), the identity's
/// and the trust record's.
fn check_places(context: &Context, vault: &std::path::Path) -> Result<()> {
    use crate::store::{fs::parent_dir, strict::check_future_dir};
    check_future_dir(&parent_dir(vault), "vault directory")?;
    if let Ok(location) = context.identity_location()
        && !location.path.exists()
    {
        check_future_dir(&parent_dir(&location.path), "identity directory")?;
    }
    let trust = crate::trust::state::TrustFile::locate()?;
    Ok(check_future_dir(
        &parent_dir(trust.path()),
        "trust record directory",
    )?)
}

pub fn run(context: &Context, args: &InitArgs) -> Result<u8> {
    let trust = trust::Trust::new(context, trust::Purpose::Values);
    let vault = context.vault_with(trust.clone());
    if args.new_identity {
        return new_identity(context, vault.exists(), args.force);
    }
    if args.project {
        return project(context);
    }
    if vault.exists() {
        if args.recipients.is_empty()
            && !args.passphrase
            && !args.armor
            && args.label.is_none()
            && args.from.is_none()
        {
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
    check_places(context, vault.path())?;
    let label = match &args.label {
        Some(label) => {
            membership::check_label(label).map_err(|why| Error::Usage(format!("--label {why}")))?;
            label.clone()
        }
        None => trust::default_label(vault.path()),
    };
    let mut joining = Vec::new();
    for recipient in &args.recipients {
        joining.push(
            Joining::parse(recipient)
                .map_err(|why| Error::Usage(format!("--recipient {recipient:?}: {why}")))?,
        );
        if let Some(Joining::ReadOnly(plain)) = joining.last() {
            recipients::parse(plain)?;
        }
    }
    let mut report = String::new();
    if args.passphrase {
        let passphrase = new_passphrase(context)?;
        let mut document = Document::new(Vec::new());
        let block = Membership::for_passphrase(&label).map_err(Error::Failed)?;
        document.set_membership(block.to_json(), Vec::new());
        vault.create(document, &Protection::Passphrase(passphrase), args.armor)?;
        report.push_str(&format!("vault: {}\n", vault.path().display()));
        report.push_str(&format!("id: {} ({label})\n", block.body.vault_id));
        report.push_str("protection: passphrase (scrypt)\n");
        print_report(&report)?;
        return SUCCESS;
    }
    let location = context.identity_location()?;
    let created = if location.path.exists() {
        // An identity every later command would refuse is no identity to build on.
        crate::store::strict::check_private_file(&location.path, "identity file")?;
        false
    } else {
        identity::create(&location.path)?;
        true
    };
    let (own, owner_recipient) = owner_of(context, &location.path, &mut joining)?;
    let owner = Member {
        recipient: owner_recipient,
        writer: own.key.writer(),
        name: trust::default_name(),
    };
    let from = match &args.from {
        Some(path) => Some(open_to_fork(context, path)?),
        None => None,
    };
    let (mut others, mut read_only): (Vec<Member>, Vec<String>) = (Vec::new(), Vec::new());
    if let Some(old) = from.as_ref().and_then(|d| d.membership()) {
        let old = Membership::parse(old).map_err(|why| Error::BadData(format!("--from: {why}")))?;
        others.extend(old.body.members.into_iter().filter(|m| {
            m.writer != owner.writer && !recipients::same_key(&m.recipient, &owner.recipient)
        }));
        read_only.extend(old.body.read_only);
    } else if let Some(old) = &from {
        read_only.extend(
            old.recipients
                .iter()
                .filter(|r| !recipients::same_key(r, &owner.recipient))
                .cloned(),
        );
    }
    for joined in joining {
        match joined {
            Joining::Member(member) => others.push(member),
            Joining::ReadOnly(recipient) => read_only.push(recipient.trim().to_string()),
        }
    }
    others.retain(|m| !recipients::same_key(&m.recipient, &owner.recipient));
    // One entry a key, the first kept: a member of --from named again by --recipient, or
    // a line given twice, is not a second member (which the block would refuse).
    let mut unique: Vec<Member> = Vec::new();
    for member in others {
        if !unique.iter().any(|m| {
            m.writer == member.writer || recipients::same_key(&m.recipient, &member.recipient)
        }) {
            unique.push(member);
        }
    }
    let others = unique;
    read_only.retain(|r| {
        !recipients::same_key(r, &owner.recipient)
            && !others.iter().any(|m| recipients::same_key(&m.recipient, r))
    });
    let mut unique: Vec<String> = Vec::new();
    for recipient in read_only {
        if !unique.iter().any(|r| recipients::same_key(r, &recipient)) {
            unique.push(recipient);
        }
    }
    let read_only = unique;
    let forked_from = from
        .as_ref()
        .and_then(|d| d.membership())
        .and_then(|json| Membership::parse(json).ok())
        .map(|block| block.body.vault_id);
    let block = Membership::genesis(&label, owner, others, read_only, forked_from, &own.key)
        .map_err(|why| Error::Usage(format!("the vault cannot be made: {why}")))?;
    let mut document = Document::new(Vec::new());
    if let Some(old) = &from {
        document.replace_secrets(old)?;
    }
    document.set_membership(block.to_json(), block.body.recipients());
    trust.made(&block);
    vault.create(document, &Protection::Recipients, args.armor)?;
    let state = if created { "created" } else { "existing" };
    report.push_str(&format!("vault: {}\n", vault.path().display()));
    report.push_str(&format!("id: {} ({label})\n", block.body.vault_id));
    report.push_str(&format!(
        "identity: {} ({state})\n",
        location.path.display()
    ));
    for recipient in block.body.recipients() {
        report.push_str(&format!("recipient: {recipient}\n"));
    }
    if created {
        context.note(&format!(
            "keep a copy of {} somewhere safe: without it the vault cannot be opened; 'vault identity export-phrase' shows it as 24 words to write on paper",
            location.path.display()
        ));
    }
    print_report(&report)?;
    SUCCESS
}

/// The owner of a new vault: this user's writer, and the recipient that is theirs — their
/// X25519 identity's, or for an SSH or plugin identity the first `--recipient` (a writer
/// key is then kept in `writer.key`).
fn owner_of(
    context: &Context,
    identity: &std::path::Path,
    joining: &mut Vec<Joining>,
) -> Result<(Own, String)> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(identity).map_err(|e| Error::io("read", identity, e))?,
    );
    if let Some(own) = identity::own_from_text(&text) {
        let recipient = own.recipient.clone().unwrap_or_default();
        return Ok((own, recipient));
    }
    let first = match joining.first() {
        Some(Joining::ReadOnly(recipient)) => recipient.trim().to_string(),
        _ => {
            return Err(Error::Failed(format!(
                "the identity {} holds no age X25519 key to derive a recipient from; pass the matching public key with --recipient",
                identity.display()
            )));
        }
    };
    joining.remove(0);
    let path = crate::paths::writer_key_file()?;
    let own = match identity::writer_key_from_file(&path)? {
        Some(own) => own,
        None => {
            let own = identity::create_writer_key(&path)?;
            context.note(&format!(
                "your identity is not an age X25519 key, so your writes are signed with a new writer key in {}: keep it with your identity",
                path.display()
            ));
            own
        }
    };
    Ok((own, first))
}

/// The secrets of the vault at `path`, for `vault init --from`: opened and judged as
/// any vault read for its values is.
fn open_to_fork(context: &Context, path: &std::path::Path) -> Result<Document> {
    let old = crate::store::Vault::new(path)
        .with_guard(trust::Trust::new(context, trust::Purpose::Values));
    Ok(old.open(context)?.document)
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

/// `vault identity public`: the line an owner adds this user with, and its fingerprint.
fn public_line(context: &Context, name: Option<&str>, recipient: Option<&str>) -> Result<u8> {
    let name = match name {
        Some(name) => {
            membership::check_name(name).map_err(|why| Error::Usage(format!("--name {why}")))?;
            name.to_string()
        }
        None => trust::default_name(),
    };
    let location = context.identity_location();
    let (writer, own_recipient) = match context.own() {
        Some(own) => (own.key.writer(), own.recipient.clone()),
        None => {
            let identity_exists = location.as_ref().is_ok_and(|l| l.path.exists())
                || crate::process::identity_key().is_some();
            if !identity_exists {
                return Err(Error::LockedOut(
                    "you have no identity yet; 'vault identity new' makes one and prints its line"
                        .into(),
                ));
            }
            let path = crate::paths::writer_key_file()?;
            // One that is there but unusable is named, never replaced.
            identity::writer_key_from_file(&path)?;
            let own = identity::create_writer_key(&path)?;
            context.note(&format!(
                "your identity is not an age X25519 key, so your writes are signed with a new writer key in {}: keep it with your identity",
                path.display()
            ));
            (own.key.writer(), None)
        }
    };
    let recipient = match (recipient, own_recipient) {
        (Some(given), _) => {
            recipients::parse(given)?;
            given.trim().to_string()
        }
        (None, Some(mine)) => mine,
        (None, None) => {
            return Err(Error::Usage(
                "your identity is not an age X25519 key, so vault cannot tell its recipient: give it with --recipient".into(),
            ));
        }
    };
    let member = Member {
        recipient,
        writer,
        name,
    };
    print_stdout(&format!("{}\n", member.line()))?;
    context.note(&format!(
        "send this line to an owner of the vault; before they add it, compare the fingerprint {} aloud",
        member.fingerprint()
    ));
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
        IdentityCommand::Public { name, recipient } => {
            public_line(context, name.as_deref(), recipient.as_deref())
        }
        IdentityCommand::New { name } => {
            let location = context.identity_location()?;
            if location.path.exists() {
                return Err(Error::Failed(format!(
                    "an identity already exists at {}; 'vault identity public' prints its line",
                    location.path.display()
                )));
            }
            identity::create(&location.path)?;
            context.note(&format!(
                "created {}; keep a copy of it somewhere safe",
                location.path.display()
            ));
            public_line(context, name.as_deref(), None)
        }
        IdentityCommand::ExportPhrase { yes } => {
            let location = context.identity_location()?;
            crate::store::strict::check_private_file(&location.path, "identity file")?;
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
