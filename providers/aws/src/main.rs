//! `secretsd-provider-aws`: secrets in AWS Secrets Manager (`aws:sm:NAME`) and SSM Parameter
//! Store (`aws:ssm:NAME`), through AWS's own SDK so credentials resolve as the AWS CLI
//! resolves them.
//!
//! Config (`[providers.aws]`): `region`, `profile`, `endpoint_url` (moto, LocalStack) and
//! per service `endpoint_url_secretsmanager` / `endpoint_url_ssm`, `role_arn` with
//! `role_session_name` and `external_id`, `access_key_id` / `secret_access_key` /
//! `session_token` (vault fills these from `AWS_ACCESS_KEY_ID`, … when they are left out),
//! `recovery_window_days` (a deleted secret's, 7–30, or 0), `timeout_seconds` (1–25, default 20,
//! for a whole request). `AWS_CA_BUNDLE` names the trusted roots, as for the AWS CLI.

mod address;
mod bounded_http;
mod ca_bundle;
mod failure;
mod json_field;
mod pages;
mod parameters;
mod secrets_manager;
mod session;
mod settings;
mod value;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use secretsd_protocol::{
    Config, ErrorKind, GetOk, ListOk, Op, Provider, ProviderError, SecretValue, serve,
};

use address::{Address, Service};
use session::Session;
use settings::Settings;
use value::{select, to_key_error};

struct Aws {
    runtime: tokio::runtime::Runtime,
    /// The session of the last configuration, reused while the configuration is the same.
    session: Option<(Arc<Settings>, Session)>,
}

impl Aws {
    /// The runtime, the settings of `config` and the session for them.
    fn session(
        &mut self,
        config: &Config,
    ) -> Result<(&tokio::runtime::Runtime, Arc<Settings>, &mut Session), ProviderError> {
        let settings = Settings::from_config(config)?;
        let reuse = matches!(&self.session, Some((s, _)) if **s == settings);
        if !reuse {
            let session = self.runtime.block_on(Session::new(&settings))?;
            self.session = Some((Arc::new(settings), session));
        }
        let (settings, session) = self.session.as_mut().expect("set above");
        // Runtime::block_on, not a Handle's: on a current-thread runtime only the runtime
        // itself drives the network and timers.
        Ok((&self.runtime, settings.clone(), session))
    }
}

impl Provider for Aws {
    fn name(&self) -> &str {
        "aws"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::List, Op::Set, Op::Delete]
    }

    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        let mut answer = GetOk::default();
        let mut addresses = Vec::new();
        for key in keys {
            match Address::parse(key) {
                Ok(address) => addresses.push((key, address)),
                Err(e) => {
                    answer.errors.insert(key.clone(), to_key_error(e));
                }
            }
        }
        let secrets: BTreeSet<_> = addresses
            .iter()
            .filter(|(_, a)| a.service == Service::SecretsManager)
            .map(|(_, a)| secrets_manager::Wanted::of(a))
            .collect();
        let params: BTreeSet<_> = addresses
            .iter()
            .filter(|(_, a)| a.service == Service::Parameters)
            .map(|(_, a)| parameters::Wanted::of(a))
            .collect();
        if addresses.is_empty() {
            return Ok(answer);
        }
        let (runtime, settings, session) = self.session(config)?;
        let ssm = (!params.is_empty()).then(|| session.parameters());
        let secret_values = within(runtime, &settings, "the reads", false, async {
            let read_secrets = secrets_manager::read_all(
                |region| session.secrets_manager(region),
                secrets,
                &settings,
            );
            let read_params = async {
                match &ssm {
                    Some(client) => parameters::read_all(client, params, &settings).await,
                    None => Default::default(),
                }
            };
            Ok(tokio::join!(read_secrets, read_params))
        })?;
        let (secrets, params) = secret_values;
        for (key, address) in addresses {
            let found = match address.service {
                Service::SecretsManager => secrets.get(&secrets_manager::Wanted::of(&address)),
                Service::Parameters => params.get(&parameters::Wanted::of(&address)),
            };
            let Some(found) = found else {
                answer.errors.insert(
                    key.clone(),
                    value::key_error(
                        ErrorKind::Internal,
                        &format!("no answer was read for {}", address.name),
                    ),
                );
                continue;
            };
            match select(found, address.field.as_deref(), &address.name) {
                Ok(text) => {
                    answer
                        .values
                        .insert(key.clone(), SecretValue::new(text.as_str()));
                }
                Err(e) => {
                    answer.errors.insert(key.clone(), e);
                }
            }
        }
        Ok(answer)
    }

    fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        let prefix = prefix.unwrap_or("");
        let (secrets, params) = if prefix.is_empty() {
            (Some(""), Some(""))
        } else if let Some(rest) = prefix.strip_prefix("sm:") {
            (Some(rest), None)
        } else if let Some(rest) = prefix.strip_prefix("ssm:") {
            (None, Some(rest))
        } else if "sm".starts_with(prefix) || "ssm".starts_with(prefix) {
            // `s`, `sm`, `ss`: the start of a service's name, as completion types it.
            (
                "sm".starts_with(prefix).then_some(""),
                "ssm".starts_with(prefix).then_some(""),
            )
        } else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{prefix:?} is not an AWS prefix; list sm:PREFIX (Secrets Manager) or \
                     ssm:PREFIX (SSM Parameter Store), e.g. aws:ssm:/prod/app/"
                ),
            ));
        };
        let (runtime, settings, session) = self.session(config)?;
        let secrets = secrets.map(|prefix| (session.secrets_manager(None), prefix));
        let params = params.map(|prefix| (session.parameters(), prefix));
        let keys = within(runtime, &settings, "the listing", false, async {
            let mut keys = Vec::new();
            if let Some((client, prefix)) = &secrets {
                keys.extend(secrets_manager::list(client, prefix, &settings).await?);
            }
            if let Some((client, prefix)) = &params {
                keys.extend(parameters::list(client, prefix, &settings).await?);
            }
            Ok(keys)
        })?;
        Ok(ListOk { keys })
    }

    fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: &SecretValue,
    ) -> Result<(), ProviderError> {
        let address = Address::parse(key)?;
        address.writable(key)?;
        let (runtime, settings, session) = self.session(config)?;
        match address.service {
            Service::SecretsManager => {
                let client = session.secrets_manager(address.arn_region());
                let write = secrets_manager::write(&client, &address, value.expose(), &settings);
                within(runtime, &settings, "the write", true, write)
            }
            Service::Parameters => {
                let client = session.parameters();
                let write = parameters::write(&client, &address, value.expose(), &settings);
                within(runtime, &settings, "the write", true, write)
            }
        }
    }

    fn delete(&mut self, config: &Config, key: &str) -> Result<(), ProviderError> {
        let address = Address::parse(key)?;
        address.writable(key)?;
        let (runtime, settings, session) = self.session(config)?;
        match address.service {
            Service::SecretsManager => {
                let client = session.secrets_manager(address.arn_region());
                let delete = secrets_manager::delete(&client, &address, &settings);
                within(runtime, &settings, "the deletion", true, delete)
            }
            Service::Parameters => {
                let client = session.parameters();
                let delete = parameters::delete(&client, &address, &settings);
                within(runtime, &settings, "the deletion", true, delete)
            }
        }
    }
}

/// Runs `work` to its end or to the request's deadline (`timeout_seconds`), whichever is
/// first: one deadline for every call, page and retry of a protocol request, so a slow or
/// endless endpoint is answered as unavailable before vault gives up on the provider.
fn within<T>(
    runtime: &tokio::runtime::Runtime,
    settings: &Settings,
    what: &str,
    changes: bool,
    work: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    // Runtime::block_on, not a Handle's: on a current-thread runtime only the runtime
    // itself drives the network and timers.
    match runtime.block_on(async { tokio::time::timeout(settings.timeout, work).await }) {
        Ok(done) => done,
        Err(_) => Err(ProviderError::new(
            ErrorKind::Unavailable,
            format!(
                "AWS did not finish {what} within {} s (timeout_seconds under \
                 [providers.aws]){}",
                settings.timeout.as_secs(),
                if changes {
                    "; it may or may not have been made: read it back before trying again"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn main() -> ExitCode {
    // One thread: the calls of a request overlap on the network, not on the CPU.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("secretsd-provider-aws: cannot start its I/O runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    serve(Aws {
        runtime,
        session: None,
    })
}
