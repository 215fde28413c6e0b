use mimalloc::MiMalloc;
use ringmasq::config::{self, Command};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    // Started as the lease-change script's helper: that, and nothing else.
    ringmasq::runtime::script_helper_if_asked();
    // Before any table is built: the big ones ask for huge pages.
    ringmasq::memory::allow_advised_huge_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match config::load(&args) {
        Ok(Command::Print(text)) => print!("{text}"),
        Ok(Command::TestOk) => eprintln!("ringmasq: syntax check OK."),
        Ok(Command::Run(config)) => ringmasq::runtime::run(&config),
        Err(e) => {
            eprintln!("\nringmasq: {e}");
            std::process::exit(i32::from(e.exit.code()));
        }
    }
}
