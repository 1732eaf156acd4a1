//! The `callscope` command line.

fn main() {
    std::process::exit(0);
}
