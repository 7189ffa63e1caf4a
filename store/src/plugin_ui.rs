//! How age plugins (a YubiKey, a TPM) reach the user while a vault is opened or written:
//! through a prompt the program registers, since the store itself never speaks to anyone.

/// What an age plugin (a YubiKey, a TPM) may ask of the user while a vault is opened or
/// written: messages ("touch your key") and a PIN. The store never speaks to the user
/// itself; a program that lets plugins do so registers one with [`set_plugin_prompt`].
pub trait PluginPrompt: Send + Sync {
    /// A message from the plugin to the user, with control characters already escaped.
    fn display_message(&self, message: &str);
    /// A PIN or passphrase the plugin asks for; `None` when none can be asked.
    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString>;
}

static PLUGIN_PROMPT: std::sync::OnceLock<Box<dyn PluginPrompt>> = std::sync::OnceLock::new();

/// Sets how age plugins reach the user, once per process (a second call is ignored and
/// returns false). Without it, plugin messages are dropped and nothing is asked.
pub fn set_plugin_prompt(prompt: Box<dyn PluginPrompt>) -> bool {
    PLUGIN_PROMPT.set(prompt).is_ok()
}

/// The age callbacks handed to plugins: they pass to the registered [`PluginPrompt`].
#[derive(Clone, Copy, Debug)]
pub struct PluginUi;

impl age::Callbacks for PluginUi {
    fn display_message(&self, message: &str) {
        if let Some(prompt) = PLUGIN_PROMPT.get() {
            prompt.display_message(&crate::names::printable(message, true));
        }
    }

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        PLUGIN_PROMPT.get()?.request_passphrase(description)
    }
}
