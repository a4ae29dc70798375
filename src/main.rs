#[global_allocator]
static GLOBAL: protscope::allocator::MiMalloc = protscope::allocator::MiMalloc;

fn main() -> std::process::ExitCode {
    protscope::allocator::keep_freed_memory();
    protscope::cli::main()
}
