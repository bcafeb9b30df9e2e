//! Where each application opens: its origin from the apps settings, and
//! the instance an application origin names.

use app::model::{AppsAddressing, AppsSettings};

use crate::addressing::origin::WebOrigin;

/// What names the instance a gateway request is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The port its listener serves (per-instance ports).
    Port(u16),
    /// The first label of the request's host (wildcard domain).
    Name(String),
}

/// Where the applications open: the apps settings with the portal's
/// origin read once, for the URLs of a whole list of instances.
pub struct AppOrigins<'a> {
    portal: WebOrigin,
    addressing: &'a AppsAddressing,
}

impl<'a> AppOrigins<'a> {
    /// None when the portal's origin is unreadable.
    pub fn of(settings: &'a AppsSettings) -> Option<AppOrigins<'a>> {
        Some(AppOrigins {
            portal: WebOrigin::parse(&settings.portal_origin)?,
            addressing: &settings.addressing,
        })
    }

    /// The application origin of the instance `name` with gateway port
    /// `port`, e.g. `https://dpe.example.org:20000` or
    /// `https://wiki.apps.example.org`. None when the instance has no port
    /// while the apps are addressed by port.
    pub fn origin(&self, name: &str, port: Option<u16>) -> Option<WebOrigin> {
        let portal = &self.portal;
        match self.addressing {
            AppsAddressing::Ports { .. } => Some(portal.with(portal.host(), port?)),
            AppsAddressing::Domain { domain } => {
                Some(portal.with(&format!("{name}.{domain}"), portal.port()))
            }
        }
    }

    /// The application's URL, with a trailing `/`.
    pub fn url(&self, name: &str, port: Option<u16>) -> Option<String> {
        self.origin(name, port).map(|o| format!("{o}/"))
    }
}

/// The application origin of one instance (see [`AppOrigins::origin`]).
pub fn app_origin(settings: &AppsSettings, name: &str, port: Option<u16>) -> Option<WebOrigin> {
    AppOrigins::of(settings)?.origin(name, port)
}

/// Which instance `host` (a request's host, without its port) names on the
/// portal's listener, when the apps have a wildcard domain.
pub fn target_of_host(addressing: &AppsAddressing, host: &str) -> Option<Target> {
    let AppsAddressing::Domain { domain } = addressing else {
        return None;
    };
    let host = host.to_ascii_lowercase();
    let label = host.strip_suffix(domain.as_str())?.strip_suffix('.')?;
    is_label(label).then(|| Target::Name(label.to_owned()))
}

/// Which instance an application origin names, if it is one: how the
/// portal checks where a sign-in may return to.
pub fn target_of_origin(settings: &AppsSettings, origin: &WebOrigin) -> Option<Target> {
    let portal = WebOrigin::parse(&settings.portal_origin)?;
    if origin.secure() != portal.secure() {
        return None;
    }
    match &settings.addressing {
        AppsAddressing::Ports { .. } => (origin.host() == portal.host()
            && origin.port() != portal.port())
        .then(|| Target::Port(origin.port())),
        AppsAddressing::Domain { .. } => {
            if origin.port() != portal.port() {
                return None;
            }
            target_of_host(&settings.addressing, origin.host())
        }
    }
}

/// A DNS label as instance names are: lower-case letters, digits, `-`.
fn is_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_url(settings: &AppsSettings, name: &str, port: Option<u16>) -> Option<String> {
        AppOrigins::of(settings)?.url(name, port)
    }

    fn settings(portal: &str, addressing: AppsAddressing) -> AppsSettings {
        AppsSettings {
            portal_origin: portal.into(),
            addressing,
        }
    }

    fn domain(d: &str) -> AppsAddressing {
        AppsAddressing::Domain { domain: d.into() }
    }

    #[test]
    fn ports_put_each_application_on_the_portal_s_host() {
        let s = settings("https://dpe.example.org", AppsAddressing::DEFAULT_PORTS);
        assert_eq!(
            app_url(&s, "wiki", Some(20001)).as_deref(),
            Some("https://dpe.example.org:20001/")
        );
        assert_eq!(app_url(&s, "wiki", None), None);
        let origin = WebOrigin::parse("https://dpe.example.org:20001").unwrap();
        assert_eq!(target_of_origin(&s, &origin), Some(Target::Port(20001)));
        let portal = WebOrigin::parse("https://dpe.example.org").unwrap();
        assert_eq!(target_of_origin(&s, &portal), None, "the portal itself");
        let elsewhere = WebOrigin::parse("https://evil.example:20001").unwrap();
        assert_eq!(target_of_origin(&s, &elsewhere), None);
        let plain = WebOrigin::parse("http://dpe.example.org:20001").unwrap();
        assert_eq!(target_of_origin(&s, &plain), None, "another scheme");
    }

    #[test]
    fn a_wildcard_domain_names_each_application_by_its_first_label() {
        let s = settings("http://127.0.0.1:8080", domain("localhost"));
        assert_eq!(
            app_url(&s, "wiki", None).as_deref(),
            Some("http://wiki.localhost:8080/")
        );
        let origin = WebOrigin::parse("http://wiki.localhost:8080").unwrap();
        assert_eq!(
            target_of_origin(&s, &origin),
            Some(Target::Name("wiki".into()))
        );
        for not_an_app in [
            "http://localhost:8080",
            "http://a.b.localhost:8080",
            "http://wiki.localhost:9090",
            "http://wikilocalhost:8080",
            "http://-x.localhost:8080",
        ] {
            let origin = WebOrigin::parse(not_an_app).unwrap();
            assert_eq!(target_of_origin(&s, &origin), None, "{not_an_app}");
        }
        assert_eq!(
            target_of_host(&s.addressing, "Wiki.LOCALHOST"),
            Some(Target::Name("wiki".into()))
        );
    }
}
