//! Entry point of the `kpi` binary: parses the command line and hands over to [`kpi::cli`].

/// mimalloc instead of the system allocator: the engine allocates and frees a batch's person
/// states and contributions on several threads; with glibc's malloc its peak resident memory on
/// the 1,000,000-event bench was 1,068-1,089 MiB, with mimalloc 968 MiB (docs/performance-history.md, "Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kpi::cli::main()
}
