//! The application stack the appliance deploys, described by a manifest
//! (`image/stacks/NAME/manifest.toml`): sizes, parameters, the golden image,
//! the cloud-init user-data and the application's health check. Nothing
//! stack-specific lives outside the manifest's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use app::error::AppError;
use app::model::ParamKind;
use serde::{Deserialize, Serialize};

pub use self::console::ConsoleSpec;

mod console;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Short machine name, e.g. `dokuwiki`.
    pub name: String,
    /// What users see, e.g. "Team wiki (DokuWiki)".
    pub title: String,
    pub description: String,
    pub image: ImageSpec,
    pub sizes: Vec<Size>,
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    pub app: AppSpec,
    /// How a booted guest is personalized in place: without it, there is
    /// no warm pool and every deploy boots cold.
    #[serde(default)]
    pub personalize: Option<PersonalizeSpec>,
    /// The account to sign in with on an instance's serial console; none:
    /// the console shows the boot and nobody can sign in.
    #[serde(default)]
    pub console: Option<ConsoleSpec>,
    /// How a running guest's file system takes a grown disk; none: it
    /// grows at the guest's next boot (cloud-init's resizefs), and a
    /// resize of a running instance grows the disk only.
    #[serde(default)]
    pub resize: Option<ResizeSpec>,
}

/// What a resize runs in the guest once its disk grew while it runs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeSpec {
    /// A command inside the image (path and arguments), run through the
    /// QEMU guest agent, that grows the file system to the disk's new
    /// size and exits 0; run again, it must do nothing and succeed.
    pub grow_filesystem: Vec<String>,
}

/// How a warm-pool member, booted from the golden image with no user's
/// values, becomes someone's instance: through the QEMU guest agent.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalizeSpec {
    /// The command inside the image, run with no arguments; it reads one
    /// JSON object of strings on standard input (never a command line).
    pub command: String,
    /// A command inside the image (path and arguments, no secrets) that
    /// exits 0 once a booted member is ready to be claimed.
    pub ready: Vec<String>,
    /// The values the command is given, by name: the user-data's
    /// variables (a parameter, a password's `NAME_hash`, `public_url`)
    /// and `hostname`, the instance's name; with a console account, its
    /// `console_user` and `console_password_hash`.
    pub params: Vec<String>,
}

/// The golden image: built by `build` into the image directory.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// Script in the stack's folder that builds the image: `build OUT_DIR`.
    pub build: String,
    /// File names inside the image directory.
    pub disk: String,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    /// Kernel command line for direct kernel boot.
    pub cmdline: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Size {
    pub name: String,
    pub label: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    pub label: String,
    pub kind: ParamKind,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub min_length: Option<usize>,
    #[serde(default)]
    pub max_length: Option<usize>,
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub port: u16,
    /// HTTP path the health check asks for.
    pub health_path: String,
    /// Text the answer must contain; `${param}` placeholders allowed.
    pub health_expect: String,
    /// cloud-config file in the stack's folder; `${param}` placeholders
    /// are substituted inside string values after parsing, and
    /// `${public_url}`, where dpe's gateway publishes the application.
    pub user_data: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid manifest {path}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid user-data {path}")]
    UserData {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("manifest {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

/// A loaded stack: its manifest, folder, image folder and user-data.
#[derive(Clone, Debug)]
pub struct Stack {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub image_dir: PathBuf,
    user_data: Option<serde_yaml_ng::Value>,
}

/// Parameters after validation: the values to store (no secrets) and the
/// values the user-data may use (secrets only as hashes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckedParams {
    pub public: BTreeMap<String, String>,
    pub template: BTreeMap<String, String>,
}

impl ParamSpec {
    /// The value given, trimmed, or the default; `None` for an optional
    /// parameter left out. Checks what every kind shares: presence, length
    /// and no control characters.
    fn value(&self, field: &str, given: Option<&String>) -> Result<Option<String>, AppError> {
        let value = given
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| self.default.clone());
        let Some(value) = value else {
            if self.required {
                return Err(AppError::invalid(
                    field,
                    format!("{} is required", self.label),
                ));
            }
            return Ok(None);
        };
        let chars = value.chars().count();
        if let Some(min) = self.min_length
            && chars < min
        {
            return Err(AppError::invalid(
                field,
                format!("use at least {min} characters"),
            ));
        }
        let max = self.max_length.unwrap_or(256);
        if chars > max {
            return Err(AppError::invalid(
                field,
                format!("use at most {max} characters"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(AppError::invalid(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Some(value))
    }
}

/// A plausible e-mail address: something, `@`, a dotted domain, and none
/// of the characters that would need quoting.
fn is_email(value: &str) -> bool {
    value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !value
                .chars()
                .any(|c| c.is_whitespace() || "<>()[]\\,;:\"#".contains(c))
    })
}

impl CheckedParams {
    /// Adds one parameter's value as its kind asks: shown and templated,
    /// normalised, or (a password) only as a hash for the template.
    fn add(&mut self, spec: &ParamSpec, field: &str, value: String) -> Result<(), AppError> {
        let name = spec.name.clone();
        match spec.kind {
            ParamKind::Text => {
                self.public.insert(name.clone(), value.clone());
                // As HTML shows it, for health checks on the page text.
                self.template
                    .insert(format!("{name}_html"), html_escape(&value));
                self.template.insert(name, value);
            }
            ParamKind::Username => {
                let username = app::validate::username(field, &value)?;
                self.public.insert(name.clone(), username.clone());
                self.template.insert(name, username);
            }
            ParamKind::Email => {
                if !is_email(&value) {
                    return Err(AppError::invalid(
                        field,
                        "enter an e-mail address such as ann@example.org",
                    ));
                }
                self.public.insert(name.clone(), value.clone());
                self.template.insert(name, value);
            }
            ParamKind::Password => {
                let context: Vec<&str> = self.public.values().map(String::as_str).collect();
                if let Some(why) = crate::auth::password::weakness(&value, &context) {
                    return Err(AppError::invalid(field, why));
                }
                // `$2y$`: the prefix PHP applications accept.
                let hash = bcrypt::hash_with_result(&value, 10)
                    .map_err(|_| AppError::Internal)?
                    .format_for_version(bcrypt::Version::TwoY);
                self.template.insert(format!("{name}_hash"), hash);
            }
        }
        Ok(())
    }
}

impl PersonalizeSpec {
    /// What is wrong with it, if anything: a relative command, an empty
    /// readiness check, or a value no deploy provides.
    fn problem(&self, params: &[ParamSpec], account: Option<&ConsoleSpec>) -> Option<String> {
        if !self.command.starts_with('/') {
            return Some("personalize.command must be an absolute path in the image".into());
        }
        if !self.ready.first().is_some_and(|c| c.starts_with('/')) {
            return Some("personalize.ready must start with an absolute path in the image".into());
        }
        let provided = |name: &str| {
            name == "hostname"
                || name == "public_url"
                || (account.is_some()
                    && (name == console::USER_VALUE || name == console::HASH_VALUE))
                || params.iter().any(|p| match p.kind {
                    ParamKind::Password => name == format!("{}_hash", p.name),
                    ParamKind::Text => name == p.name || name == format!("{}_html", p.name),
                    ParamKind::Username | ParamKind::Email => name == p.name,
                })
        };
        self.params
            .iter()
            .find(|n| !provided(n))
            .map(|n| format!("personalize.params names {n:?}, which no deploy provides"))
    }

    /// The JSON object the command reads: the named values a deploy has.
    pub fn input(&self, template: &BTreeMap<String, String>, hostname: &str) -> String {
        let values: BTreeMap<&str, &str> = self
            .params
            .iter()
            .filter_map(|name| match name.as_str() {
                "hostname" => Some((name.as_str(), hostname)),
                _ => template.get(name).map(|v| (name.as_str(), v.as_str())),
            })
            .collect();
        serde_json::to_string(&values).unwrap_or_else(|_| "{}".into())
    }
}

impl Stack {
    pub fn load(dir: &Path, image_dir: &Path) -> Result<Stack, StackError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| StackError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|source| StackError::Manifest {
            path: path.clone(),
            source: Box::new(source),
        })?;
        if manifest.sizes.is_empty() {
            return Err(StackError::Invalid {
                path,
                problem: "it offers no sizes".into(),
            });
        }
        // The health check asks the instance's own address and port: its
        // path must not name another authority ("@host", "//host").
        let health_path = &manifest.app.health_path;
        if !health_path.starts_with('/')
            || health_path.starts_with("//")
            || health_path.contains(['@', '\\', ' '])
        {
            return Err(StackError::Invalid {
                path,
                problem: format!("app.health_path {health_path:?} must be a plain path such as /"),
            });
        }
        if let Some(personalize) = &manifest.personalize
            && let Some(problem) = personalize.problem(&manifest.params, manifest.console.as_ref())
        {
            return Err(StackError::Invalid { path, problem });
        }
        if let Some(problem) = manifest
            .console
            .as_ref()
            .and_then(|c| c.problem(&manifest.params))
        {
            return Err(StackError::Invalid { path, problem });
        }
        let user_data = match &manifest.app.user_data {
            Some(file) => {
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|source| StackError::Read {
                    path: path.clone(),
                    source,
                })?;
                Some(
                    serde_yaml_ng::from_str(&text)
                        .map_err(|source| StackError::UserData { path, source })?,
                )
            }
            None => None,
        };
        Ok(Stack {
            manifest,
            dir: dir.to_owned(),
            image_dir: image_dir.to_owned(),
            user_data,
        })
    }

    pub fn size(&self, name: &str) -> Result<&Size, AppError> {
        self.manifest
            .sizes
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                let names: Vec<_> = self
                    .manifest
                    .sizes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                AppError::invalid("size", format!("choose one of: {}", names.join(", ")))
            })
    }

    pub fn image_file(&self, name: &str) -> PathBuf {
        self.image_dir.join(name)
    }

    /// Validates `given` against the manifest's parameters.
    pub fn check_params(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<CheckedParams, AppError> {
        if let Some(unknown) = given
            .keys()
            .find(|k| !self.manifest.params.iter().any(|p| &p.name == *k))
        {
            return Err(AppError::invalid(
                &format!("params.{unknown}"),
                "is not a parameter of this stack",
            ));
        }
        let mut checked = CheckedParams::default();
        for spec in &self.manifest.params {
            let field = format!("params.{}", spec.name);
            if let Some(value) = spec.value(&field, given.get(&spec.name))? {
                checked.add(spec, &field, value)?;
            }
        }
        if let Some(console) = &self.manifest.console {
            console.add_to(&mut checked.template);
        }
        Ok(checked)
    }

    /// The user-data document with `vars` substituted inside its strings.
    pub fn render_user_data(
        &self,
        vars: &BTreeMap<String, String>,
    ) -> Result<String, serde_yaml_ng::Error> {
        let mut doc = self
            .user_data
            .clone()
            .unwrap_or(serde_yaml_ng::Value::Mapping(Default::default()));
        substitute(&mut doc, vars);
        Ok(format!(
            "#cloud-config\n{}",
            serde_yaml_ng::to_string(&doc)?
        ))
    }

    /// `${name}` placeholders of a manifest string (health text, URL).
    pub fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
        fill(text, vars)
    }
}

/// Escapes like PHP's `htmlspecialchars` with ENT_QUOTES, which is how web
/// applications (DokuWiki among them) print text.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            other => out.push(other),
        }
    }
    out
}

fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

fn substitute(value: &mut serde_yaml_ng::Value, vars: &BTreeMap<String, String>) {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) => *s = fill(s, vars),
        Value::Sequence(items) => items.iter_mut().for_each(|v| substitute(v, vars)),
        Value::Mapping(map) => map.values_mut().for_each(|v| substitute(v, vars)),
        Value::Tagged(tagged) => substitute(&mut tagged.value, vars),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(dir: &Path) -> Stack {
        std::fs::write(
            dir.join("manifest.toml"),
            r#"
name = "demo"
title = "Demo"
description = "A demo"
[image]
build = "build"
disk = "disk.qcow2"
[[sizes]]
name = "small"
label = "Small"
vcpus = 1
memory_mib = 256
disk_gib = 1
[[params]]
name = "title"
label = "Title"
kind = "text"
max_length = 64
[[params]]
name = "admin_password"
label = "Admin password"
kind = "password"
[app]
port = 80
health_path = "/"
health_expect = "${title}"
user_data = "user-data.yaml"
"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("user-data.yaml"),
            "#cloud-config\nwrite_files:\n  - path: /etc/title\n    content: \"${title}\"\n  - path: /etc/hash\n    content: ${admin_password_hash}\n",
        )
        .unwrap();
        Stack::load(dir, dir).unwrap()
    }

    /// Loads the demo stack with `sections` appended to its manifest.
    fn with_sections(dir: &Path) -> impl Fn(&str) -> Result<Stack, StackError> + '_ {
        stack(dir);
        let manifest = dir.join("manifest.toml");
        let good = std::fs::read_to_string(&manifest).unwrap();
        move |sections| {
            std::fs::write(&manifest, format!("{good}{sections}")).unwrap();
            Stack::load(dir, dir)
        }
    }

    #[test]
    fn a_health_path_that_names_another_host_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        stack(dir.path());
        let manifest = dir.path().join("manifest.toml");
        let good = std::fs::read_to_string(&manifest).unwrap();
        for bad in ["@evil.example/", "//evil.example/", "relative", "/a b"] {
            std::fs::write(
                &manifest,
                good.replace("health_path = \"/\"", &format!("health_path = {bad:?}")),
            )
            .unwrap();
            let err = Stack::load(dir.path(), dir.path()).unwrap_err();
            assert!(
                format!("{err:?}").contains("app.health_path"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn a_personalization_must_name_values_a_deploy_provides_and_gets_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let with = with_sections(dir.path());
        for (bad, says) in [
            (r#"command = "relative""#, "absolute path"),
            (r#"ready = []"#, "personalize.ready"),
            (r#"params = ["admin_password"]"#, "\"admin_password\""),
            (r#"params = ["nope"]"#, "\"nope\""),
        ] {
            let mut fields = vec![
                r#"command = "/usr/local/sbin/p""#,
                r#"ready = ["/bin/true"]"#,
                r#"params = ["title"]"#,
            ];
            let key = bad.split(' ').next().unwrap();
            fields.retain(|f| !f.starts_with(key));
            fields.push(bad);
            let err = with(&format!("[personalize]\n{}\n", fields.join("\n"))).unwrap_err();
            assert!(format!("{err}").contains(says), "{bad}: {err}");
        }
        let stack = with(
            "[personalize]\ncommand = \"/p\"\nready = [\"/bin/true\"]\n\
             params = [\"title\", \"admin_password_hash\", \"hostname\"]\n",
        )
        .unwrap();
        let spec = stack.manifest.personalize.unwrap();
        let template = BTreeMap::from([
            ("title".to_owned(), "A \"wiki\"".to_owned()),
            ("admin_password_hash".to_owned(), "$2y$10$x".to_owned()),
            ("public_url".to_owned(), "https://w.example/".to_owned()),
        ]);
        let input: serde_json::Value =
            serde_json::from_str(&spec.input(&template, "team-wiki")).unwrap();
        assert_eq!(
            input,
            serde_json::json!({"title": "A \"wiki\"", "admin_password_hash": "$2y$10$x",
                "hostname": "team-wiki"}),
            "only the values it names"
        );
    }

    #[test]
    fn a_console_account_is_a_new_user_with_a_password_parameters_hash() {
        let dir = tempfile::tempdir().unwrap();
        let with = with_sections(dir.path());
        for (bad, says) in [
            (
                "user = \"root\"\npassword = \"admin_password\"",
                "console.user",
            ),
            (
                "user = \"www-data\"\npassword = \"admin_password\"",
                "console.user",
            ),
            (
                "user = \"Ann\"\npassword = \"admin_password\"",
                "console.user",
            ),
            (
                "user = \"9lives\"\npassword = \"admin_password\"",
                "console.user",
            ),
            ("user = \"ops\"\npassword = \"title\"", "console.password"),
            ("user = \"ops\"\npassword = \"nope\"", "console.password"),
        ] {
            let err = with(&format!("[console]\n{bad}\n")).unwrap_err();
            assert!(format!("{err}").contains(says), "{bad}: {err}");
        }
        let personalize = "[personalize]\ncommand = \"/p\"\nready = [\"/bin/true\"]\n\
                           params = [\"console_user\", \"console_password_hash\"]\n";
        assert!(
            format!("{}", with(personalize).unwrap_err()).contains("console_user"),
            "no console account, no such values"
        );
        let stack = with(&format!(
            "{personalize}[console]\nuser = \"ops\"\npassword = \"admin_password\"\n"
        ))
        .unwrap();
        let checked = stack
            .check_params(&BTreeMap::from([
                ("title".to_owned(), "Wiki".to_owned()),
                (
                    "admin_password".to_owned(),
                    "Bright-Otter-77-river".to_owned(),
                ),
            ]))
            .unwrap();
        assert_eq!(checked.template["console_user"], "ops");
        assert_eq!(
            checked.template["console_password_hash"],
            checked.template["admin_password_hash"]
        );
        let console = stack.manifest.console.as_ref().unwrap();
        let sign_in = console.sign_in(&stack.manifest.params);
        assert_eq!(
            (sign_in.user.as_str(), sign_in.password.as_str()),
            ("ops", "Admin password")
        );
    }

    #[test]
    fn params_are_checked_and_secrets_become_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let stack = stack(dir.path());
        let mut given = BTreeMap::from([
            (
                "title".to_string(),
                "Team <wiki> & \"co\": 'x'\n- y".to_string(),
            ),
            (
                "admin_password".to_string(),
                "Bright-Otter-77-river".to_string(),
            ),
        ]);
        assert_eq!(
            stack.check_params(&given).unwrap_err().field(),
            Some("params.title"),
            "newlines are control characters"
        );
        given.insert("title".into(), "Team <wiki> & \"co\": 'x' - y".into());
        let checked = stack.check_params(&given).unwrap();
        assert_eq!(
            checked.template["title_html"],
            "Team &lt;wiki&gt; &amp; &quot;co&quot;: &#039;x&#039; - y"
        );
        assert!(!checked.public.contains_key("admin_password"));
        assert!(!checked.public.values().any(|v| v.contains("Bright-Otter")));
        let yaml = stack.render_user_data(&checked.template).unwrap();
        assert!(
            !yaml.contains("Bright-Otter"),
            "no clear password in the seed"
        );
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(
            doc["write_files"][0]["content"],
            "Team <wiki> & \"co\": 'x' - y"
        );
        let hash = doc["write_files"][1]["content"].as_str().unwrap();
        assert!(bcrypt::verify("Bright-Otter-77-river", hash).unwrap());

        given.insert("extra".into(), "x".into());
        assert_eq!(
            stack.check_params(&given).unwrap_err().field(),
            Some("params.extra")
        );
        given.remove("extra");
        given.insert("admin_password".into(), "password".into());
        assert_eq!(
            stack.check_params(&given).unwrap_err().field(),
            Some("params.admin_password")
        );
    }
}
