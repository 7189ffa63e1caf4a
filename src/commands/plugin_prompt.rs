//! How age plugins (a YubiKey, a TPM) reach the user: their messages ("touch your key") go
//! to stderr as the plugin wrote them, a PIN is asked on the terminal when there is one, and
//! nothing is asked otherwise. The store hands them here (`store::plugin_ui::PluginPrompt`).

use std::io::{IsTerminal, Write};

use age::secrecy::SecretString;

use crate::store::plugin_ui::PluginPrompt;

/// The terminal as age plugins see it.
pub struct TerminalPrompt;

impl PluginPrompt for TerminalPrompt {
    fn display_message(&self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "vault: {message}");
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(format!("{description}: "))
            .ok()
            .map(SecretString::from)
    }
}
