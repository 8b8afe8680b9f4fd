//! Test support shared by the workspace's crates; each module owns one kind
//! of helper and says so in its own docs.

pub mod broker;
