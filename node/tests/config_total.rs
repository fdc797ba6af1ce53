//! `node.toml` and the store's position are read from files an operator
//! (or an attacker with access to the disk) controls: any text gives a
//! configuration or an error naming the problem, never a panic or a stack
//! overflow. The same inputs are fuzzed in `fuzz/` (see `docs/fuzzing.md`).

use chapar_node::config::{NodeConfig, Peer};
use chapar_node::store::Position;
use proptest::prelude::*;

fn sample() -> String {
    NodeConfig::for_bundle(
        "tokyo-1",
        "emb-tokyo",
        "127.0.0.1:7401".parse().expect("addr"),
        vec![Peer {
            id: "hub".into(),
            address: "127.0.0.1:7400".into(),
        }],
    )
    .to_toml()
}

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(config) = NodeConfig::parse(text)
        && config.validate().is_ok()
    {
        prop_assert_eq!(NodeConfig::parse(&config.to_toml()), Ok(config));
    }
    Ok(())
}

/// Runs `f` on a thread with a small stack, as a worker thread would have.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the parser must not panic or overflow its stack")
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
        let err = on_small_stack(move || NodeConfig::parse(&text)).expect_err("refused");
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

    #[test]
    fn a_stored_position_reads_back_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..32)) {
        match Position::from_bytes(&bytes) {
            Some(p) => prop_assert_eq!(&p.to_bytes()[..], &bytes[..]),
            None => prop_assert_ne!(bytes.len(), 12),
        }
    }
}
