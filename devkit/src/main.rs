//! `devkit`: the Connector Devkit command line, serving the data-pack app
//! (the pack in `APP_DIR`, `seed` by default). Any app gets the same command
//! line from its own `main`: `devkit::run(app)`.

fn main() -> std::process::ExitCode {
    devkit::run(gateway::App::data_pack())
}
