//! What `dpe dev` commands use: tools for developing and measuring dpe,
//! never part of an appliance's own work.
//!
//! - `seed`: made-up departments, accounts and instances for benches (not
//!   the cloud-init seed a guest boots with, which is `engine::seed`).

pub mod seed;
