//! AWS Secrets Manager: `aws:sm:NAME[?version-stage=S|?version-id=ID][#FIELD]`.
//!
//! A `get` reads the current versions of up to 20 secrets per `BatchGetSecretValue` call
//! (one `GetSecretValue` per secret when there is a single one, when a version is pinned,
//! or when the credentials may not batch); several fields of one secret cost one read. A
//! `set` puts a new version (`PutSecretValue`), creating the secret when it is absent.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use zeroize::Zeroizing;

use crate::address::{Address, Pin};
use crate::failure::{Call, failed};
use crate::pages::Pages;
use crate::settings::Settings;
use crate::value::{Found, MissingField, Outcome, key_error};

/// `BatchGetSecretValue` takes at most 20 secret ids.
const BATCH: usize = 20;
/// The longest `SecretString` Secrets Manager stores, in bytes.
pub const MAX_VALUE: usize = 65_536;

/// One secret version to read: its region (from an ARN), its id and its pin.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub region: Option<String>,
    pub id: String,
    pub pin: Option<Pin>,
}

impl Wanted {
    pub fn of(address: &Address) -> Wanted {
        Wanted {
            region: address.arn_region().map(str::to_string),
            id: address.name.clone(),
            pin: address.pin.clone(),
        }
    }
}

/// Reads every wanted secret version: its `SecretString`, or why there is none.
pub async fn read_all(
    mut clients: impl FnMut(Option<&str>) -> Client,
    wanted: BTreeSet<Wanted>,
    settings: &Settings,
) -> BTreeMap<Wanted, Found> {
    let mut found = BTreeMap::new();
    let mut current: BTreeMap<Option<String>, Vec<Wanted>> = BTreeMap::new();
    for w in wanted {
        if w.pin.is_some() {
            let client = clients(w.region.as_deref());
            let value = read_one(&client, &w, settings).await;
            found.insert(w, value);
        } else {
            current.entry(w.region.clone()).or_default().push(w);
        }
    }
    for (region, wanted) in current {
        let client = clients(region.as_deref());
        for chunk in wanted.chunks(BATCH) {
            if chunk.len() == 1 {
                found.insert(
                    chunk[0].clone(),
                    read_one(&client, &chunk[0], settings).await,
                );
                continue;
            }
            match read_batch(&client, chunk, settings).await {
                Ok(values) => found.extend(values),
                // Many policies grant GetSecretValue on named secrets but not the batch
                // call (which IAM grants on "*" only): read them one by one then, so each
                // secret's own permission decides.
                Err(e) if e.kind == secretsd_protocol::ErrorKind::Denied => {
                    for w in chunk {
                        found.insert(w.clone(), read_one(&client, w, settings).await);
                    }
                }
                Err(e) => {
                    for w in chunk {
                        found.insert(w.clone(), Err(key_error(e.kind, &e.message)));
                    }
                }
            }
        }
    }
    found
}

async fn read_one(client: &Client, wanted: &Wanted, settings: &Settings) -> Found {
    let mut request = client.get_secret_value().secret_id(&wanted.id);
    request = match &wanted.pin {
        Some(Pin::Stage(stage)) => request.version_stage(stage),
        Some(Pin::VersionId(id)) => request.version_id(id),
        _ => request,
    };
    let call = Call {
        action: "secretsmanager:GetSecretValue",
        resource: &wanted.id,
        writes: false,
    };
    match request.send().await {
        Ok(mut output) => text_of(
            output.secret_string.take(),
            output.secret_binary.is_some(),
            &wanted.id,
        ),
        Err(e) => Err(read_refusal(failed(e, &call, settings))),
    }
}

async fn read_batch(
    client: &Client,
    chunk: &[Wanted],
    settings: &Settings,
) -> Result<Vec<(Wanted, Found)>, secretsd_protocol::ProviderError> {
    let ids: Vec<String> = chunk.iter().map(|w| w.id.clone()).collect();
    let resource = ids.join(", ");
    let call = Call {
        action: "secretsmanager:BatchGetSecretValue",
        resource: &resource,
        writes: false,
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut pages = Pages::new("secretsmanager:BatchGetSecretValue");
    let mut next_token = None;
    loop {
        let mut output = client
            .batch_get_secret_value()
            .set_secret_id_list(Some(ids.clone()))
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| failed(e, &call, settings))?;
        entries.append(output.secret_values.get_or_insert_default());
        errors.append(output.errors.get_or_insert_default());
        next_token = match pages.next(output.next_token.take()) {
            Ok(Some(token)) => Some(token),
            Ok(None) => break,
            Err(e) => {
                wipe(&mut entries);
                return Err(e);
            }
        };
    }
    let mut answers = Vec::new();
    for w in chunk {
        // Copied, not taken: one secret may be asked for twice (by name or partial ARN and
        // by full ARN), and each asks for the same entry. The entries are wiped below.
        let entry = entries
            .iter()
            .find(|e| names(&w.id, e.name.as_deref(), e.arn.as_deref()));
        let answer = match entry {
            Some(entry) => text_of(
                entry.secret_string.clone(),
                entry.secret_binary.is_some(),
                &w.id,
            ),
            None => match errors
                .iter()
                .find(|e| e.secret_id.as_deref() == Some(w.id.as_str()))
            {
                Some(error) => Err(batch_error(
                    &w.id,
                    error.error_code.as_deref().unwrap_or_default(),
                    error.message.as_deref().unwrap_or_default(),
                )),
                None => Err(key_error(
                    secretsd_protocol::ErrorKind::Unavailable,
                    &format!("AWS answered no value for {} in BatchGetSecretValue", w.id),
                )),
            },
        };
        answers.push((w.clone(), answer));
    }
    wipe(&mut entries);
    Ok(answers)
}

/// The values read in a batch, wiped once copied to their answers.
fn wipe(entries: &mut [aws_sdk_secretsmanager::types::SecretValueEntry]) {
    for entry in entries {
        if let Some(text) = entry.secret_string.take() {
            drop(Zeroizing::new(text));
        }
    }
}

/// Whether a batch entry answers `id`: a name, a full ARN, or a partial ARN (one without
/// the six random characters AWS appends).
fn names(id: &str, name: Option<&str>, arn: Option<&str>) -> bool {
    if id.starts_with("arn:") {
        return arn.is_some_and(|arn| {
            arn == id
                || arn
                    .strip_prefix(id)
                    .is_some_and(|rest| rest.len() == 7 && rest.starts_with('-'))
        });
    }
    name == Some(id)
}

fn batch_error(id: &str, code: &str, said: &str) -> secretsd_protocol::KeyError {
    use secretsd_protocol::ErrorKind;
    let kind = match code {
        "ResourceNotFoundException" => ErrorKind::NotFound,
        "AccessDeniedException" | "DecryptionFailure" => ErrorKind::Denied,
        "InvalidRequestException" => ErrorKind::NotFound,
        _ => ErrorKind::Unavailable,
    };
    let message = match kind {
        ErrorKind::NotFound if code == "InvalidRequestException" => format!(
            "{id} cannot be read ({said}); a secret scheduled for deletion is restored with \
             `aws secretsmanager restore-secret`"
        ),
        ErrorKind::NotFound => format!("{id} does not exist"),
        _ => format!("AWS refused secretsmanager:GetSecretValue on {id}: {code} ({said})"),
    };
    key_error(kind, &message)
}

/// A read refused as `invalid` because the secret is scheduled for deletion is, to a
/// reader, a secret that is not there.
fn read_refusal(error: secretsd_protocol::ProviderError) -> secretsd_protocol::KeyError {
    use secretsd_protocol::ErrorKind;
    if error.kind == ErrorKind::Invalid && error.message.contains("InvalidRequestException") {
        return key_error(
            ErrorKind::NotFound,
            &format!(
                "{}; a secret scheduled for deletion is restored with `aws secretsmanager \
                 restore-secret`",
                error.message
            ),
        );
    }
    key_error(error.kind, &error.message)
}

fn text_of(text: Option<String>, binary: bool, id: &str) -> Found {
    match text {
        Some(text) => Ok(Zeroizing::new(text)),
        None if binary => Err(key_error(
            secretsd_protocol::ErrorKind::Invalid,
            &format!("{id} holds SecretBinary; vault reads SecretString (text) only"),
        )),
        // AWS says not-found with ResourceNotFoundException; an answer without a value is
        // something else (a proxy, a broken endpoint) and must not let a default apply.
        None => Err(key_error(
            secretsd_protocol::ErrorKind::Unavailable,
            &format!("AWS answered for {id} with no value (neither SecretString nor SecretBinary)"),
        )),
    }
}

/// Writes `value` to `address` as a new version, creating the secret when it is absent. A
/// field write reads the current version and changes that field only.
pub async fn write(
    client: &Client,
    address: &Address,
    value: &str,
    settings: &Settings,
) -> Outcome<()> {
    let id = &address.name;
    // A field write onto a secret AWS says is not there creates it: never PutSecretValue,
    // which would replace a secret that exists after all with this one field.
    let mut absent = false;
    let document = match &address.field {
        None => Zeroizing::new(value.to_string()),
        Some(field) => {
            let current = read_one(client, &Wanted::of(address), settings).await;
            let current = match current {
                Ok(text) => Some(text),
                Err(e) if e.kind == secretsd_protocol::ErrorKind::NotFound => {
                    absent = true;
                    None
                }
                Err(e) => return Err(crate::value::from_key_error(e)),
            };
            crate::value::with_field(current.as_deref().map(|s| s.as_str()), field, value, id)?
        }
    };
    if document.len() > MAX_VALUE {
        return Err(crate::value::too_long(
            id,
            document.len(),
            MAX_VALUE,
            "Secrets Manager",
        ));
    }
    if !absent {
        let put = Call {
            action: "secretsmanager:PutSecretValue",
            resource: id,
            writes: true,
        };
        let result = client
            .put_secret_value()
            .secret_id(id)
            .secret_string(document.as_str())
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) => {
                let error = failed(e, &put, settings);
                if error.kind != secretsd_protocol::ErrorKind::NotFound {
                    return Err(error);
                }
            }
        }
    }
    if address.is_arn() {
        return Err(secretsd_protocol::ProviderError::new(
            secretsd_protocol::ErrorKind::NotFound,
            format!("{id} does not exist, and a secret is created by name, not by ARN"),
        ));
    }
    create(client, id, &document, settings).await
}

/// Creates the secret `id` holding `document`; one that exists after all (made meanwhile,
/// or an endpoint that said not-found wrongly) is left as it is.
async fn create(client: &Client, id: &str, document: &str, settings: &Settings) -> Outcome<()> {
    let call = Call {
        action: "secretsmanager:CreateSecret",
        resource: id,
        writes: true,
    };
    let result = client
        .create_secret()
        .name(id)
        .secret_string(document)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceExistsException") => {
            Err(secretsd_protocol::ProviderError::new(
                secretsd_protocol::ErrorKind::Unavailable,
                format!(
                    "{id} was not found when read, yet CreateSecret says it exists; it was \
                     left unchanged (created meanwhile, or the endpoint answers wrongly): try \
                     again"
                ),
            ))
        }
        Err(e) => Err(failed(e, &call, settings)),
    }
}

/// Deletes the secret (restorable for the recovery window), or one field of it.
pub async fn delete(client: &Client, address: &Address, settings: &Settings) -> Outcome<()> {
    let id = &address.name;
    if let Some(field) = &address.field {
        let current = read_one(client, &Wanted::of(address), settings)
            .await
            .map_err(crate::value::from_key_error)?;
        let document = crate::json_field::remove(&current, field)
            .map_err(|e| MissingField(e).error(id, field))?;
        let call = Call {
            action: "secretsmanager:PutSecretValue",
            resource: id,
            writes: true,
        };
        return client
            .put_secret_value()
            .secret_id(id)
            .secret_string(document.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(e, &call, settings));
    }
    let call = Call {
        action: "secretsmanager:DeleteSecret",
        resource: id,
        writes: false,
    };
    let mut request = client.delete_secret().secret_id(id);
    request = match settings.recovery_window_days {
        Some(0) => {
            // A forced delete of a secret that does not exist succeeds (AWS documents it):
            // ask first, so a wrong name is not-found rather than a silent success.
            let describe = Call {
                action: "secretsmanager:DescribeSecret",
                resource: id,
                writes: false,
            };
            client
                .describe_secret()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| failed(e, &describe, settings))?;
            request.force_delete_without_recovery(true)
        }
        Some(days) => request.recovery_window_in_days(days),
        None => request,
    };
    request
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed(e, &call, settings))
}

/// Names of the secrets starting with `prefix`, every page, as `sm:NAME` keys.
pub async fn list(client: &Client, prefix: &str, settings: &Settings) -> Outcome<Vec<String>> {
    let call = Call {
        action: "secretsmanager:ListSecrets",
        resource: if prefix.is_empty() { "*" } else { prefix },
        writes: false,
    };
    let mut keys = Vec::new();
    let mut pages = Pages::new("secretsmanager:ListSecrets");
    let mut next_token = None;
    loop {
        let mut request = client.list_secrets().set_next_token(next_token.take());
        if !prefix.is_empty() {
            request = request.filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            );
        }
        let output = request
            .send()
            .await
            .map_err(|e| failed(e, &call, settings))?;
        for secret in output.secret_list() {
            // The name filter also matches inside names on some accounts: keep the prefix's.
            if let Some(name) = secret.name().filter(|n| n.starts_with(prefix)) {
                keys.push(format!("sm:{name}"));
            }
        }
        match pages.next(output.next_token().map(str::to_string))? {
            Some(token) => next_token = Some(token),
            None => break,
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_batch_entry_answers_its_name_or_its_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf";
        assert!(names("db", Some("db"), Some(arn)));
        assert!(names(arn, Some("db"), Some(arn)));
        assert!(names(
            "arn:aws:secretsmanager:us-east-1:1:secret:db",
            Some("db"),
            Some(arn)
        ));
        assert!(!names(
            "arn:aws:secretsmanager:us-east-1:1:secret:d",
            Some("db"),
            Some(arn)
        ));
        assert!(!names("other", Some("db"), Some(arn)));
    }
}
