//! `cargo run -p booking -- up`: the booking helper, with the kit's whole
//! command line (`up`, `doctor`, `mint-token`).

fn main() -> std::process::ExitCode {
    devkit::run(booking::app())
}
