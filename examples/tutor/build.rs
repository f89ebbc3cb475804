// The migrations are embedded at build time (`gateway::app_migrations!`):
// rebuild when one is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
