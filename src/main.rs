fn main() -> std::process::ExitCode {
    protscope::cli::main()
}
