//! The application gateway: every instance's application, reachable
//! through the appliance on an origin of its own.

pub mod address;
