//! Entry point of the `kpi` binary: parses the command line and hands over to [`kpi::cli`].

fn main() -> std::process::ExitCode {
    kpi::cli::main()
}
