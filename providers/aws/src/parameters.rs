//! SSM Parameter Store: `aws:ssm:NAME[?version=N][#FIELD]`.
//!
//! A `get` reads the current values of up to 10 parameters per `GetParameters` call (AWS's
//! limit), the calls for more than ten names made at once; a pinned version is read by
//! `GetParameter` with AWS's `NAME:VERSION` selector. SecureString values are decrypted. A
//! `set` overwrites with `PutParameter`, keeping the parameter's type, KMS key and tier
//! (read by `DescribeParameters`); a new parameter is a SecureString.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use crate::address::{Address, Pin};
use crate::failure::{Call, failed};
use crate::pages::Pages;
use crate::settings::Settings;
use crate::value::{Found, MissingField, Outcome, key_error, too_long};

/// `GetParameters` takes at most 10 names.
const BATCH: usize = 10;
/// The longest value of a standard parameter, and of an advanced one, in bytes.
const MAX_STANDARD: usize = 4096;
const MAX_ADVANCED: usize = 8192;

/// One parameter version to read: its name (or ARN) and pinned version.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub name: String,
    pub version: Option<u64>,
}

impl Wanted {
    pub fn of(address: &Address) -> Wanted {
        Wanted {
            name: address.name.clone(),
            version: match address.pin {
                Some(Pin::Version(n)) => Some(n),
                _ => None,
            },
        }
    }
}

/// Reads every wanted parameter: its value, or why there is none.
pub async fn read_all(
    client: &Client,
    wanted: BTreeSet<Wanted>,
    settings: &Arc<Settings>,
) -> BTreeMap<Wanted, Found> {
    let mut found = BTreeMap::new();
    let (pinned, current): (Vec<Wanted>, Vec<Wanted>) =
        wanted.into_iter().partition(|w| w.version.is_some());
    let mut calls = JoinSet::new();
    for chunk in current.chunks(BATCH) {
        let (client, chunk, settings) = (client.clone(), chunk.to_vec(), settings.clone());
        calls.spawn(async move { read_batch(&client, chunk, &settings).await });
    }
    for w in pinned {
        let (client, settings) = (client.clone(), settings.clone());
        calls.spawn(async move {
            let value = read_one(&client, &w, true, &settings).await;
            vec![(w, value.map(|(text, _)| text))]
        });
    }
    while let Some(done) = calls.join_next().await {
        match done {
            Ok(answers) => found.extend(answers),
            // A task panicked: the keys it held get no answer, which vault reports.
            Err(_) => continue,
        }
    }
    found
}

async fn read_batch(
    client: &Client,
    chunk: Vec<Wanted>,
    settings: &Settings,
) -> Vec<(Wanted, Found)> {
    let names: Vec<String> = chunk.iter().map(|w| w.name.clone()).collect();
    let resource = names.join(", ");
    let call = Call {
        action: "ssm:GetParameters",
        resource: &resource,
        writes: false,
    };
    let output = client
        .get_parameters()
        .set_names(Some(names))
        .with_decryption(true)
        .send()
        .await;
    let mut output = match output {
        Ok(output) => output,
        Err(e) => {
            let error = failed(e, &call, settings);
            return chunk
                .into_iter()
                .map(|w| (w, Err(key_error(error.kind, &error.message))))
                .collect();
        }
    };
    let parameters = output.parameters.take().unwrap_or_default();
    let invalid = output.invalid_parameters.take().unwrap_or_default();
    let mut answers = Vec::new();
    for w in chunk {
        // Copied, not taken: one parameter may be asked for twice (by name and by ARN), and
        // each asks for the same entry. The entries are wiped below.
        let entry = parameters.iter().find(|p| {
            p.name.as_deref() == Some(w.name.as_str()) || p.arn.as_deref() == Some(w.name.as_str())
        });
        let answer = match entry.and_then(|p| p.value.as_deref()) {
            Some(text) => Ok(Zeroizing::new(text.to_string())),
            None if invalid.contains(&w.name) => Err(not_found(&w.name)),
            None => Err(key_error(
                secretsd_protocol::ErrorKind::Unavailable,
                &format!("AWS answered no value for {} in ssm:GetParameters", w.name),
            )),
        };
        answers.push((w, answer));
    }
    wipe(parameters);
    answers
}

/// One parameter (pinned or not), with its type.
async fn read_one(
    client: &Client,
    wanted: &Wanted,
    decrypt: bool,
    settings: &Settings,
) -> Result<(Zeroizing<String>, Option<ParameterType>), secretsd_protocol::KeyError> {
    let selector = match wanted.version {
        Some(n) => format!("{}:{n}", wanted.name),
        None => wanted.name.clone(),
    };
    let call = Call {
        action: "ssm:GetParameter",
        resource: &selector,
        writes: false,
    };
    let output = client
        .get_parameter()
        .name(&selector)
        .with_decryption(decrypt)
        .send()
        .await
        .map_err(|e| {
            let error = failed(e, &call, settings);
            key_error(error.kind, &error.message)
        })?;
    // AWS says not-found with ParameterNotFound; an answer without a value is something
    // else (a proxy, a broken endpoint) and must not let a default apply.
    let no_value = || {
        key_error(
            secretsd_protocol::ErrorKind::Unavailable,
            &format!("AWS answered ssm:GetParameter for {selector} with no value"),
        )
    };
    let Some(mut parameter) = output.parameter else {
        return Err(no_value());
    };
    let kind = parameter.r#type.take();
    match parameter.value.take() {
        Some(text) => Ok((Zeroizing::new(text), kind)),
        None => Err(no_value()),
    }
}

fn not_found(name: &str) -> secretsd_protocol::KeyError {
    key_error(
        secretsd_protocol::ErrorKind::NotFound,
        &format!("{name} does not exist"),
    )
}

/// Parameter values read but not answered are wiped before their memory is reused.
fn wipe(parameters: Vec<aws_sdk_ssm::types::Parameter>) {
    for mut p in parameters {
        if let Some(text) = p.value.take() {
            drop(Zeroizing::new(text));
        }
    }
}

/// What an overwrite keeps of a parameter.
struct Kept {
    kind: ParameterType,
    key_id: Option<String>,
    tier: Option<ParameterTier>,
    data_type: Option<String>,
}

/// The parameter's type, KMS key and tier, or None when there is no such parameter.
async fn describe(client: &Client, name: &str, settings: &Settings) -> Outcome<Option<Kept>> {
    let plain = plain_name(name);
    let call = Call {
        action: "ssm:DescribeParameters",
        resource: plain,
        writes: false,
    };
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(plain)
        .build()
        .map_err(|e| {
            secretsd_protocol::ProviderError::new(
                secretsd_protocol::ErrorKind::Internal,
                format!("ssm:DescribeParameters filter for {plain}: {e}"),
            )
        })?;
    let mut pages = Pages::new("ssm:DescribeParameters");
    let mut next_token = None;
    loop {
        let output = client
            .describe_parameters()
            .parameter_filters(filter.clone())
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| failed(e, &call, settings))?;
        if let Some(found) = output.parameters().iter().find(|p| p.name() == Some(plain)) {
            return Ok(Some(Kept {
                kind: found
                    .r#type()
                    .cloned()
                    .unwrap_or(ParameterType::SecureString),
                key_id: found.key_id().map(str::to_string),
                tier: found.tier().cloned(),
                data_type: found.data_type().map(str::to_string),
            }));
        }
        match pages.next(output.next_token().map(str::to_string))? {
            Some(token) => next_token = Some(token),
            None => return Ok(None),
        }
    }
}

/// A parameter's name from its ARN (`arn:aws:ssm:REGION:ACCOUNT:parameter/prod/x` is
/// `/prod/x`, `…:parameter/flat` is `flat`), as `DescribeParameters` filters by name.
fn plain_name(name: &str) -> &str {
    if !name.starts_with("arn:") {
        return name;
    }
    match name.split_once(":parameter") {
        Some((_, rest)) if rest.starts_with("/") && rest[1..].contains('/') => rest,
        Some((_, rest)) => rest.strip_prefix('/').unwrap_or(rest),
        None => name,
    }
}

/// Writes `value` to `address` as a new version, keeping the parameter's type; a field
/// write reads the current value and changes that field only.
pub async fn write(
    client: &Client,
    address: &Address,
    value: &str,
    settings: &Settings,
) -> Outcome<()> {
    let name = &address.name;
    let kept = describe(client, name, settings).await?;
    let document = match &address.field {
        None => Zeroizing::new(value.to_string()),
        Some(field) => {
            let current = match &kept {
                None => None,
                Some(_) => Some(
                    read_one(client, &Wanted::of(address), true, settings)
                        .await
                        .map_err(crate::value::from_key_error)?
                        .0,
                ),
            };
            crate::value::with_field(current.as_deref().map(|s| s.as_str()), field, value, name)?
        }
    };
    put(client, name, &document, kept, settings).await
}

async fn put(
    client: &Client,
    name: &str,
    document: &str,
    kept: Option<Kept>,
    settings: &Settings,
) -> Outcome<()> {
    let advanced = kept
        .as_ref()
        .is_some_and(|k| k.tier == Some(ParameterTier::Advanced));
    let limit = if advanced { MAX_ADVANCED } else { MAX_STANDARD };
    if document.len() > limit {
        return Err(too_long(
            name,
            document.len(),
            limit,
            "an SSM parameter of its tier",
        ));
    }
    let call = Call {
        action: "ssm:PutParameter",
        resource: name,
        writes: true,
    };
    let mut request = client.put_parameter().name(name).value(document);
    request = match kept {
        // A new parameter holds a secret: SecureString under the account's aws/ssm key.
        None => request.r#type(ParameterType::SecureString).overwrite(false),
        Some(kept) => {
            // Without its key id an overwrite would move a SecureString to the default key,
            // and without its tier an advanced parameter would be refused as standard.
            let mut request = request.r#type(kept.kind.clone()).overwrite(true);
            if kept.kind == ParameterType::SecureString
                && let Some(key_id) = kept.key_id
            {
                request = request.key_id(key_id);
            }
            if advanced {
                request = request.tier(ParameterTier::Advanced);
            }
            if let Some(data_type) = kept.data_type.filter(|t| t != "text") {
                request = request.data_type(data_type);
            }
            request
        }
    };
    request
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed(e, &call, settings))
}

/// Deletes the parameter (every version), or one field of its JSON value.
pub async fn delete(client: &Client, address: &Address, settings: &Settings) -> Outcome<()> {
    let name = &address.name;
    if let Some(field) = &address.field {
        let kept = describe(client, name, settings).await?;
        if kept.is_none() {
            return Err(crate::value::from_key_error(not_found(name)));
        }
        let current = read_one(client, &Wanted::of(address), true, settings)
            .await
            .map_err(crate::value::from_key_error)?
            .0;
        let document = crate::json_field::remove(&current, field)
            .map_err(|e| MissingField(e).error(name, field))?;
        return put(client, name, &document, kept, settings).await;
    }
    let call = Call {
        action: "ssm:DeleteParameter",
        resource: name,
        writes: false,
    };
    client
        .delete_parameter()
        .name(name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed(e, &call, settings))
}

/// Names of the parameters starting with `prefix`, every page, as `ssm:NAME` keys: a
/// hierarchical prefix by `GetParametersByPath` (recursive) on its folder, any other by
/// `DescribeParameters` with a `BeginsWith` name filter.
pub async fn list(client: &Client, prefix: &str, settings: &Settings) -> Outcome<Vec<String>> {
    let mut names = if prefix.starts_with('/') {
        by_path(client, prefix, settings).await?
    } else {
        by_name(client, prefix, settings).await?
    };
    names.retain(|n| n.starts_with(prefix));
    names.sort();
    names.dedup();
    Ok(names.into_iter().map(|n| format!("ssm:{n}")).collect())
}

async fn by_path(client: &Client, prefix: &str, settings: &Settings) -> Outcome<Vec<String>> {
    // `/prod/app/` and `/prod/app/DB_` both list the folder `/prod/app`.
    let folder = match prefix.rfind('/') {
        Some(0) | None => "/",
        Some(end) => &prefix[..end],
    };
    let call = Call {
        action: "ssm:GetParametersByPath",
        resource: folder,
        writes: false,
    };
    let mut names = Vec::new();
    let mut pages = Pages::new("ssm:GetParametersByPath");
    let mut next_token = None;
    loop {
        let mut output = client
            .get_parameters_by_path()
            .path(folder)
            .recursive(true)
            .with_decryption(false)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| failed(e, &call, settings))?;
        let parameters = output.parameters.take().unwrap_or_default();
        names.extend(parameters.iter().filter_map(|p| p.name.clone()));
        wipe(parameters);
        match pages.next(output.next_token.take())? {
            Some(token) => next_token = Some(token),
            None => return Ok(names),
        }
    }
}

async fn by_name(client: &Client, prefix: &str, settings: &Settings) -> Outcome<Vec<String>> {
    let call = Call {
        action: "ssm:DescribeParameters",
        resource: if prefix.is_empty() { "*" } else { prefix },
        writes: false,
    };
    let mut names = Vec::new();
    let mut pages = Pages::new("ssm:DescribeParameters");
    let mut next_token = None;
    loop {
        let mut request = client
            .describe_parameters()
            .set_next_token(next_token.take());
        if !prefix.is_empty() {
            let filter = ParameterStringFilter::builder()
                .key("Name")
                .option("BeginsWith")
                .values(prefix)
                .build()
                .map_err(|e| {
                    secretsd_protocol::ProviderError::new(
                        secretsd_protocol::ErrorKind::Internal,
                        format!("ssm:DescribeParameters filter for {prefix}: {e}"),
                    )
                })?;
            request = request.parameter_filters(filter);
        }
        let output = request
            .send()
            .await
            .map_err(|e| failed(e, &call, settings))?;
        names.extend(
            output
                .parameters()
                .iter()
                .filter_map(|p| p.name().map(str::to_string)),
        );
        match pages.next(output.next_token().map(str::to_string))? {
            Some(token) => next_token = Some(token),
            None => return Ok(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn an_arn_names_its_parameter() {
        assert_eq!(plain_name("/prod/x"), "/prod/x");
        assert_eq!(
            plain_name("arn:aws:ssm:eu-west-1:1:parameter/prod/x"),
            "/prod/x"
        );
        assert_eq!(plain_name("arn:aws:ssm:eu-west-1:1:parameter/flat"), "flat");
    }
}
