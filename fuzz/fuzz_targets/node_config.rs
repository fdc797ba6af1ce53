//! `node.toml`, the node's configuration file.
#![no_main]

use chapar_node::config::NodeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(config) = NodeConfig::parse(&text) else {
        return;
    };
    if config.validate().is_ok() {
        assert_eq!(NodeConfig::parse(&config.to_toml()).as_ref(), Ok(&config));
    }
});
