// Tensors of tens of MB are allocated and freed per layer and step; mimalloc keeps them mapped.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    protscope::cli::main()
}
