//! Build step of the warehouse crate: rebuilds it when a migration is added or changed.
//!
//! `sqlx::migrate!` embeds `migrations/` at compile time, and on stable Rust Cargo reruns the
//! macro only when a file it already knows changes; a new migration file alone would leave the
//! binaries migrating to the old list. This is the build script `sqlx migrate build-script`
//! writes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
