//! `testpg start --dir D`: makes a PostgreSQL cluster in `D`, starts it detached on a free
//! port of 127.0.0.1 and prints its URL (for `MAESTRO_TEST_PG_URL`).
//! `testpg stop --dir D`: stops that server and removes `D`.

use anyhow::{bail, Context};
use std::path::PathBuf;

const USAGE: &str = "usage: testpg start --dir DIR | testpg stop --dir DIR";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, dir) = match args.as_slice() {
        [command, flag, dir] if flag == "--dir" => (command.as_str(), PathBuf::from(dir)),
        _ => bail!(USAGE),
    };
    match command {
        "start" => {
            let url = maestro_testpg::TestPg::start_detached(&dir)
                .with_context(|| format!("starting PostgreSQL in {}", dir.display()))?;
            println!("{url}");
        }
        "stop" => maestro_testpg::stop_detached(&dir)
            .with_context(|| format!("stopping the PostgreSQL of {}", dir.display()))?,
        _ => bail!(USAGE),
    }
    Ok(())
}
