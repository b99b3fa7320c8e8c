//! `*.conf.ini` through `config::load`: the module files KMS ships as INI, and an INI main file.
//!
//! Byte 0 picks the file: 0 = the main file (`kurento.conf.ini`), else one module file (with a
//! valid JSON main file).

use super::config_common::{load, MAIN_JSON, MODULE_FILES};

pub fn run(data: &[u8]) {
    let Some((&sel, text)) = data.split_first() else {
        return;
    };
    match sel as usize % (MODULE_FILES.len() + 1) {
        0 => load("kurento.conf.ini", text, None),
        i => {
            let name = format!("{}.conf.ini", MODULE_FILES[i - 1]);
            load(
                "kurento.conf.json",
                MAIN_JSON.as_bytes(),
                Some((&name, text)),
            );
        }
    }
}
