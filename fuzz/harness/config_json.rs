//! `kurento.conf.json` and `modules/kurento/*.conf.json` through `config::load`.
//!
//! Byte 0 picks the file: 0 = the main file, else one module file (with a valid main file).

use super::config_common::{load, MAIN_JSON, MODULE_FILES};

pub fn run(data: &[u8]) {
    let Some((&sel, text)) = data.split_first() else {
        return;
    };
    match sel as usize % (MODULE_FILES.len() + 1) {
        0 => load("kurento.conf.json", text, None),
        i => {
            let name = format!("{}.conf.json", MODULE_FILES[i - 1]);
            load(
                "kurento.conf.json",
                MAIN_JSON.as_bytes(),
                Some((&name, text)),
            );
        }
    }
}
