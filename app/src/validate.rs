//! Input rules shared by the server (which enforces them) and the portal.
//! Each returns the normalized value or an `AppError::Invalid` naming the
//! field, with a message a person can act on.

use crate::error::AppError;

pub const NAME_MAX: usize = 64;
const URI_MAX: usize = 512;
const PATH_MAX: usize = 1024;

fn no_controls(field: &str, text: &str) -> Result<(), AppError> {
    if text.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A free-text display name (appliance, token): trimmed, 1 to 64
/// characters, any script, no control characters.
pub fn display_name(field: &str, text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if text.chars().count() > NAME_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {NAME_MAX} characters"),
        ));
    }
    no_controls(field, text)?;
    Ok(text.to_owned())
}

/// A user name: lower-cased; 1 to 64 of `a-z 0-9 . _ -`, starting with a
/// letter or digit, so it is safe in paths, logs and directory filters.
pub fn username(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim().to_lowercase();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {NAME_MAX} characters"),
        ));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if let Some(bad) = name.chars().find(|c| !ok_char(*c)) {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not allowed: use lower-case letters, digits, '.', '_' and '-'"),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(AppError::invalid(
            field,
            "must start with a letter or a digit",
        ));
    }
    Ok(name)
}

/// A libvirt connection URI such as `qemu:///system`, `qemu+ssh://host/system`
/// or `test:///default`.
pub fn libvirt_uri(field: &str, text: &str) -> Result<String, AppError> {
    let uri = text.trim();
    if uri.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if uri.len() > URI_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {URI_MAX} bytes"),
        ));
    }
    no_controls(field, uri)?;
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(AppError::invalid(
            field,
            "expected a libvirt URI such as qemu:///system",
        ));
    };
    let driver = scheme.split('+').next().unwrap_or_default();
    if !matches!(driver, "qemu" | "test") {
        return Err(AppError::invalid(
            field,
            format!("unsupported driver {driver:?}: use qemu (or test for demos)"),
        ));
    }
    if rest.chars().any(char::is_whitespace) {
        return Err(AppError::invalid(field, "must not contain spaces"));
    }
    Ok(uri.to_owned())
}

/// An absolute directory path on a host.
pub fn absolute_dir(field: &str, text: &str) -> Result<String, AppError> {
    let path = text.trim();
    if path.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if path.len() > PATH_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {PATH_MAX} bytes"),
        ));
    }
    no_controls(field, path)?;
    if !path.starts_with('/') {
        return Err(AppError::invalid(
            field,
            "must be an absolute path, starting with /",
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(AppError::invalid(field, "must not contain '..'"));
    }
    Ok(path.to_owned())
}

/// A libvirt object name (network, pool): 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn libvirt_name(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.len() > NAME_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {NAME_MAX} characters"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not allowed in a libvirt name"),
        ));
    }
    Ok(name.to_owned())
}

/// An instance name: a DNS label (RFC 1123), so it can be the guest's host
/// name: 1 to 63 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn dns_label(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.len() > 63 {
        return Err(AppError::invalid(field, "use at most 63 characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not allowed: use lower-case letters, digits and '-'"),
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(AppError::invalid(field, "must not start or end with '-'"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalized_and_restricted() {
        assert_eq!(username("u", "  Ann.Lee ").unwrap(), "ann.lee");
        for bad in [
            "",
            "a<b",
            "o'neil",
            "\"x\"",
            "a&b",
            "é",
            "-x",
            "a b",
            &"x".repeat(65),
        ] {
            let err = username("u", bad).unwrap_err();
            assert_eq!(err.field(), Some("u"), "{bad:?}");
        }
    }

    #[test]
    fn display_names_take_any_script_but_not_controls() {
        assert_eq!(
            display_name("n", " Physik <Labor> & Co's \"wiki\" ").unwrap(),
            "Physik <Labor> & Co's \"wiki\""
        );
        assert_eq!(display_name("n", "物理学部").unwrap(), "物理学部");
        assert!(display_name("n", "a\u{0007}b").is_err());
        assert!(display_name("n", "   ").is_err());
        assert!(display_name("n", &"ü".repeat(65)).is_err());
        assert!(display_name("n", &"ü".repeat(64)).is_ok());
    }

    #[test]
    fn instance_names_are_dns_labels() {
        assert_eq!(dns_label("n", " wiki-1 ").unwrap(), "wiki-1");
        for bad in [
            "",
            "Wiki",
            "wiki_1",
            "-wiki",
            "wiki-",
            "wïki",
            "a<b",
            &"a".repeat(64),
        ] {
            assert!(dns_label("n", bad).is_err(), "{bad:?}");
        }
        assert!(dns_label("n", &"a".repeat(63)).is_ok());
    }

    #[test]
    fn uris_paths_and_libvirt_names() {
        assert!(libvirt_uri("h", "qemu:///system").is_ok());
        assert!(libvirt_uri("h", "qemu+ssh://root@kvm2/system").is_ok());
        assert!(libvirt_uri("h", "test:///default").is_ok());
        assert!(libvirt_uri("h", "xen:///").is_err());
        assert!(libvirt_uri("h", "/etc/passwd").is_err());
        assert!(absolute_dir("s", "/var/lib/dpe").is_ok());
        assert!(absolute_dir("s", "relative/dir").is_err());
        assert!(absolute_dir("s", "/var/../etc").is_err());
        assert!(libvirt_name("n", "default").is_ok());
        assert!(libvirt_name("n", "bad name").is_err());
    }
}
