fn main() {
    std::process::exit(hookhub::cli::main());
}
