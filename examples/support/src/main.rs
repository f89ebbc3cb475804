//! `cargo run -p support -- up`: the support assistant, with the kit's whole
//! command line (`up`, `doctor`, `mint-token`).

fn main() -> std::process::ExitCode {
    devkit::run(support::app())
}
