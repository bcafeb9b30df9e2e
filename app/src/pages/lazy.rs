//! The pages whose code the browser fetches only when one is first opened.
//!
//! The dashboard, the sign-in page and the not-found page are in the main
//! bundle: they are what a cold load shows. Every other page is a lazy
//! route: `scripts/build` splits its code into a chunk of its own (shared
//! code into shared chunks), and a page rendered on the server names the
//! chunks it needs so the browser preloads them beside the main bundle.
//!
//! A page's data is read inside the page itself, so these routes carry no
//! data of their own (`data()` returns the unit-like route).

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use super::{
    AccountPage, ApprovalsPage, AppsSettingsPage, AuditPage, BackupsPage, ConsolePage,
    DepartmentPage, DepartmentsPage, DeployPage, DirectoryPage, GraphicsPage, HostsPage,
    InstancePage, InstancesPage, NetworksPage, NotificationsPage, SetupPage, TokensPage,
    VersionsPage,
};

/// A lazy route whose view is the page component `$page`.
macro_rules! lazy_page {
    ($route:ident => $page:ident) => {
        #[doc = concat!("[`", stringify!($page), "`], loaded on first use.")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    };
}

lazy_page!(SetupRoute => SetupPage);
lazy_page!(TokensRoute => TokensPage);
lazy_page!(AccountRoute => AccountPage);
lazy_page!(InstancesRoute => InstancesPage);
lazy_page!(InstanceRoute => InstancePage);
lazy_page!(ConsoleRoute => ConsolePage);
lazy_page!(GraphicsRoute => GraphicsPage);
lazy_page!(DeployRoute => DeployPage);
lazy_page!(NetworksRoute => NetworksPage);
lazy_page!(HostsRoute => HostsPage);
lazy_page!(DepartmentsRoute => DepartmentsPage);
lazy_page!(DepartmentRoute => DepartmentPage);
lazy_page!(AuditRoute => AuditPage);
lazy_page!(BackupsRoute => BackupsPage);
lazy_page!(DirectoryRoute => DirectoryPage);
lazy_page!(AppsSettingsRoute => AppsSettingsPage);
lazy_page!(NotificationsRoute => NotificationsPage);
lazy_page!(ApprovalsRoute => ApprovalsPage);
lazy_page!(VersionsRoute => VersionsPage);
