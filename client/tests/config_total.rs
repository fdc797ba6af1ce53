//! A person's `user.toml` is read from their bundle: any text gives a
//! configuration or an error naming the problem, never a panic or a stack
//! overflow. The same inputs are fuzzed in `fuzz/` (see
//! `docs/fuzzing.md`).

use chapar_client::config::UserConfig;
use proptest::prelude::*;

fn sample() -> String {
    UserConfig::for_bundle("aziza", "emb-tokyo", "tokyo-1", "127.0.0.1:7401").to_toml()
}

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(config) = UserConfig::parse(text) {
        prop_assert_eq!(UserConfig::parse(&config.to_toml()), Ok(config));
    }
    Ok(())
}

#[test]
fn the_bundle_configuration_reads_back() {
    let config = UserConfig::parse(&sample()).expect("valid");
    assert_eq!(config.user_id, "aziza");
    let err = UserConfig::parse(&sample().replace("user_id", "usr_id")).expect_err("typo");
    assert!(err.contains("usr_id"), "{err}");
}

#[test]
fn deeply_nested_values_are_refused_without_overflowing_the_stack() {
    for (open, close) in [("[", "]"), ("{a=", "}")] {
        let depth = 50_000;
        let text = format!(
            "{}\nextra = {}1{}\n",
            sample(),
            open.repeat(depth),
            close.repeat(depth)
        );
        let err = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || UserConfig::parse(&text))
            .expect("spawn")
            .join()
            .expect("the parser must not panic or overflow its stack")
            .expect_err("refused");
        assert!(!err.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_is_refused_or_read(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn mutated_configurations(edits in prop::collection::vec((any::<usize>(), any::<char>(), 0..3u8), 1..4)) {
        let mut chars: Vec<char> = sample().chars().collect();
        for (at, c, op) in edits {
            let i = at % (chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => chars[i] = c,
                _ => chars.truncate(i),
            }
        }
        check(&chars.into_iter().collect::<String>())?;
    }
}
