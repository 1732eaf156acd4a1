//! The `callscope` command line: parses arguments, runs one command, maps errors to the exit
//! status of output-contract.md (0 analysed, 1 usage or input error, 2 reserved for `check`).

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("callscope: {e:#}");
            ExitCode::from(1)
        }
    }
}
