//! Who signs in on an instance's serial console: one account in the guest,
//! made at deploy with the password the deployer chose for one of the
//! stack's password parameters. Only that password's bcrypt hash reaches
//! the guest (as `console_password_hash`, beside `console_user`), through
//! the seed's user-data on a cold deploy and the personalize command's
//! standard input on a warm one.

use std::collections::BTreeMap;

use app::model::{ConsoleSignIn, ParamKind};
use serde::{Deserialize, Serialize};

use super::ParamSpec;

/// Names of the template values a console account adds.
pub const USER_VALUE: &str = "console_user";
pub const HASH_VALUE: &str = "console_password_hash";

/// Names that already belong to Debian's system accounts: a console
/// account with one of them would take over a service's identity.
const SYSTEM_ACCOUNTS: &[&str] = &[
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "gnats",
    "nobody",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "messagebus",
    "_apt",
];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSpec {
    /// The account's name in the guest: a POSIX user name, not one of
    /// the system's own.
    pub user: String,
    /// The password parameter whose value is the account's password.
    pub password: String,
}

impl ConsoleSpec {
    /// What is wrong with it, if anything.
    pub(super) fn problem(&self, params: &[ParamSpec]) -> Option<String> {
        let user = &self.user;
        let well_formed = user.len() <= 32
            && user.starts_with(|c: char| c.is_ascii_lowercase())
            && user
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !well_formed || SYSTEM_ACCOUNTS.contains(&user.as_str()) {
            return Some(format!(
                "console.user {user:?} must be a user name of a-z, 0-9, '-' and '_' \
                 (a letter first, at most 32) that no system account has"
            ));
        }
        match params.iter().find(|p| p.name == self.password) {
            Some(p) if p.kind == ParamKind::Password => None,
            Some(_) | None => Some(format!(
                "console.password {:?} must name a parameter of kind password",
                self.password
            )),
        }
    }

    /// Adds the account's name and its password's hash to a deploy's
    /// template values (the hash is already there, under the parameter's
    /// `NAME_hash`).
    pub(super) fn add_to(&self, template: &mut BTreeMap<String, String>) {
        if let Some(hash) = template.get(&format!("{}_hash", self.password)).cloned() {
            template.insert(USER_VALUE.into(), self.user.clone());
            template.insert(HASH_VALUE.into(), hash);
        }
    }

    /// What the console page tells whoever opens it.
    pub fn sign_in(&self, params: &[ParamSpec]) -> ConsoleSignIn {
        let label = params
            .iter()
            .find(|p| p.name == self.password)
            .map_or_else(|| self.password.clone(), |p| p.label.clone());
        ConsoleSignIn {
            user: self.user.clone(),
            password: label,
        }
    }
}
