//! `cargo run -p tutor -- up`: the tutor, with the kit's whole command line
//! (`up`, `doctor`, `mint-token`).

fn main() -> std::process::ExitCode {
    devkit::run(tutor::app())
}
