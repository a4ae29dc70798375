#[global_allocator]
static GLOBAL: protscope_cli::allocator::MiMalloc = protscope_cli::allocator::MiMalloc;

fn main() -> std::process::ExitCode {
    protscope_cli::allocator::keep_freed_memory();
    protscope_cli::cli::main()
}
