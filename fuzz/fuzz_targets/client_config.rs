//! A person's bundle: `user.toml`, read by `Bundle::open`.
#![no_main]

use chapar_client::config::UserConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = UserConfig::parse(&text) {
        assert_eq!(UserConfig::parse(&config.to_toml()).as_ref(), Ok(&config));
    }
});
