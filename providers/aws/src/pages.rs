//! Following `NextToken` through a listing's pages, with a bound: an endpoint that repeats
//! a token or never stops paging is refused rather than followed until vault's deadline.

use std::collections::HashSet;

use secretsd_protocol::{ErrorKind, ProviderError};

/// The most pages one listing follows: 1000 pages of ListSecrets are 100,000 secrets.
pub const MAX_PAGES: usize = 1000;

pub struct Pages {
    action: &'static str,
    seen: HashSet<String>,
}

impl Pages {
    pub fn new(action: &'static str) -> Pages {
        Pages {
            action,
            seen: HashSet::new(),
        }
    }

    /// The token of the next page to ask for: None when `token` says the listing is done,
    /// an error when the endpoint gives a token it gave before, or pages past [`MAX_PAGES`].
    pub fn next(&mut self, token: Option<String>) -> Result<Option<String>, ProviderError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if self.seen.len() + 1 >= MAX_PAGES {
            return Err(self.refused(&format!("it went past {MAX_PAGES} pages")));
        }
        if !self.seen.insert(token.clone()) {
            return Err(self.refused("it gave the same NextToken twice"));
        }
        Ok(Some(token))
    }

    fn refused(&self, why: &str) -> ProviderError {
        ProviderError::new(
            ErrorKind::Unavailable,
            format!(
                "AWS's answers to {} were stopped: {why}; check endpoint_url under \
                 [providers.aws]",
                self.action
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_on_no_token_and_stop_on_a_repeat_or_too_many() {
        let mut pages = Pages::new("secretsmanager:ListSecrets");
        assert_eq!(pages.next(Some("a".into())).unwrap(), Some("a".into()));
        assert_eq!(pages.next(Some("b".into())).unwrap(), Some("b".into()));
        assert_eq!(pages.next(Some(String::new())).unwrap(), None);
        assert_eq!(pages.next(None).unwrap(), None);
        let repeated = pages.next(Some("a".into())).unwrap_err();
        assert_eq!(repeated.kind, ErrorKind::Unavailable);
        assert!(repeated.message.contains("same NextToken"), "{repeated}");

        let mut endless = Pages::new("ssm:DescribeParameters");
        let stopped = (0..MAX_PAGES * 2)
            .map(|n| endless.next(Some(n.to_string())))
            .position(|r| r.is_err());
        assert_eq!(stopped, Some(MAX_PAGES - 1));
    }
}
