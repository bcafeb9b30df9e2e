//! Where things are reached on the web: origins (scheme, host, port) of
//! the portal and of each instance's application. Pure logic that the
//! HTTP edge, the gateway, the services and the engine all use, so it
//! sits below them all.

pub mod app_origins;
pub mod origin;
