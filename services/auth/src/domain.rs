//! Validated inputs: raw request fields become these types at the edge.

use crate::error::AuthError;

/// Minimum number of characters in a password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Maximum number of bytes in a password. Longer input is rejected before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Maximum number of characters in a name (workspace, API key, display name).
pub const MAX_NAME_CHARS: usize = 100;

/// An email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Normalizes and validates an email address.
    pub fn parse(field: &'static str, raw: &str) -> Result<Email, AuthError> {
        let normalized = raw.trim().to_lowercase();
        if normalized.is_empty() {
            return Err(AuthError::invalid(
                field,
                "Email is missing; send an address like ada@example.com",
            ));
        }
        if normalized.len() > 254 || !email_address::EmailAddress::is_valid(&normalized) {
            return Err(AuthError::invalid(
                field,
                "Email is not a valid address; send one like ada@example.com",
            ));
        }
        Ok(Email(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that is long enough and not a common one. It never prints itself.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// Validates a new password: at least 12 characters, at most 1 KiB, and not guessable
    /// from common-password lists (zxcvbn's frequency lists, score below 3 of 4).
    pub fn parse_new(
        field: &'static str,
        raw: String,
        email: &Email,
    ) -> Result<Password, AuthError> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(AuthError::invalid(
                field,
                format!("Password must have at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::invalid(
                field,
                format!("Password must have at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        // zxcvbn's cost grows with length; its verdict on the first 100 characters is enough.
        let sample: String = raw.chars().take(100).collect();
        let user_inputs = [email.as_str()];
        let estimate = zxcvbn::zxcvbn(&sample, &user_inputs);
        if (estimate.score() as u8) < 3 {
            return Err(AuthError::invalid(
                field,
                "Password is too common or easy to guess; use a longer phrase of unrelated words",
            ));
        }
        Ok(Password(raw))
    }

    /// Accepts a password as typed at sign-in, checking only its size.
    pub fn parse_existing(field: &'static str, raw: String) -> Result<Password, AuthError> {
        if raw.is_empty() || raw.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::invalid(
                field,
                "Password is missing or longer than 1024 bytes",
            ));
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Validates a display name for a workspace, API key or user.
pub fn parse_name(field: &'static str, raw: &str) -> Result<String, AuthError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AuthError::invalid(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::invalid(
            field,
            format!("`{field}` must have at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::invalid(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("email", "ada@example.com").unwrap()
    }

    #[test]
    fn email_is_normalized() {
        let email = Email::parse("email", "  Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
    }

    #[test]
    fn email_without_domain_is_rejected() {
        assert!(Email::parse("email", "ada").is_err());
        assert!(Email::parse("email", "ada@").is_err());
    }

    #[test]
    fn short_password_is_rejected() {
        assert!(Password::parse_new("password", "Sh0rt!x".into(), &email()).is_err());
    }

    #[test]
    fn common_password_is_rejected() {
        for common in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "iloveyou1234",
        ] {
            assert!(
                Password::parse_new("password", common.into(), &email()).is_err(),
                "{common}"
            );
        }
    }

    #[test]
    fn strong_password_is_accepted() {
        assert!(
            Password::parse_new("password", "violet-harbor-tram-1987".into(), &email()).is_ok()
        );
    }
}
