//! Placeholder: the consume benchmark comes in a later commit.

fn main() {}
