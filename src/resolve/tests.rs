//! Tests of `resolve`.

use super::*;

#[test]
fn parses_every_form() {
    assert_eq!(
        Reference::parse("secret:DB"),
        Reference::Secret("DB".into())
    );
    assert_eq!(Reference::parse("env:HOME"), Reference::Env("HOME".into()));
    assert_eq!(
        Reference::parse("file:/etc/x"),
        Reference::File("/etc/x".into())
    );
    assert_eq!(
        Reference::parse("literal:secret:x"),
        Reference::Literal("secret:x".into())
    );
    assert_eq!(
        Reference::parse("infisical:/app/db/PASSWORD"),
        Reference::Provider {
            provider: "infisical".into(),
            key: "/app/db/PASSWORD".into()
        }
    );
    for literal in ["INFO", "postgres://u:p@h/db", "Mixed:case", "a b:c", ""] {
        assert_eq!(
            Reference::parse(literal),
            Reference::Literal(literal.into())
        );
    }
}

#[test]
fn errors_show_the_scheme_where_the_rest_could_be_a_value() {
    for (text, shown) in [
        ("admin:hunter2", "admin:…"),
        ("infisical:/app/db/PASSWORD", "infisical:…"),
        ("secret:DB_PASSWORD", "secret:DB_PASSWORD"),
        ("secret:hunter2 !", "secret:…"),
        ("env:HOME", "env:HOME"),
        ("env:a b", "env:…"),
        ("file:/etc/app.key", "file:/etc/app.key"),
        ("literal:hunter2", "a literal value"),
    ] {
        assert_eq!(Reference::parse(text).for_error(), shown, "{text}");
    }
}

#[test]
fn literals_are_never_displayed() {
    assert!(
        !Reference::parse("literal:hunter2")
            .to_string()
            .contains("hunter2")
    );
}
