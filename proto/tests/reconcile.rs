//! Range-based set reconciliation: the tree against a naive model, two
//! peers converging on random sets, the message-size limit, the issue's
//! byte and round-trip targets, and hostile input.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chapar_proto::DocId;
use chapar_proto::reconcile::{
    Bound, Item, MIN_MESSAGE_BYTES, PROTOCOL_VERSION, ReconcileConfig, ReconcileError, Reconciler,
    Summary, Tree, canonical_form,
};
use proptest::prelude::*;

/// splitmix64: deterministic, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn id(&mut self) -> DocId {
        let mut id = [0u8; 32];
        for chunk in id.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        DocId(id)
    }
}

/// Random item; `ts_span` small makes items share timestamps, `narrow`
/// makes ids share long prefixes (exercises prefix bounds).
fn item(rng: &mut Rng, ts_span: u64, narrow: bool) -> Item {
    let ts = 1_700_000_000_000 + rng.below(ts_span);
    let mut id = rng.id();
    if narrow {
        for b in id.0.iter_mut().take(3) {
            *b &= 1;
        }
    }
    Item::new(ts, id)
}

/// Shared items plus items only on A and only on B.
fn sets(
    seed: u64,
    shared: usize,
    a_only: usize,
    b_only: usize,
    ts_span: u64,
) -> (BTreeSet<Item>, BTreeSet<Item>) {
    let mut rng = Rng(seed);
    let narrow = seed % 3 == 0;
    let mut all = BTreeSet::new();
    while all.len() < shared + a_only + b_only {
        all.insert(item(&mut rng, ts_span, narrow));
    }
    let mut all: Vec<Item> = all.into_iter().collect();
    // Shuffle so the differences are spread over the order.
    for i in (1..all.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        all.swap(i, j);
    }
    let a: BTreeSet<Item> = all[..shared + a_only].iter().copied().collect();
    let mut b: BTreeSet<Item> = all[..shared].iter().copied().collect();
    b.extend(all[shared + a_only..].iter().copied());
    (a, b)
}

fn tree(s: &BTreeSet<Item>) -> Tree {
    Tree::from_sorted(s.iter().copied()).expect("sorted")
}

#[derive(Debug, Default)]
struct Outcome {
    messages: usize,
    bytes_a_to_b: usize,
    bytes_b_to_a: usize,
    largest: usize,
    a_have: Vec<Item>,
    a_need: Vec<Item>,
    b_have: Vec<Item>,
    b_need: Vec<Item>,
}

impl Outcome {
    fn round_trips(&self) -> usize {
        self.messages.div_ceil(2)
    }
    fn bytes(&self) -> usize {
        self.bytes_a_to_b + self.bytes_b_to_a
    }
}

/// Runs a whole session, A initiating, with no transfer between rounds.
fn run(a: &Tree, b: &Tree, cfg: ReconcileConfig) -> Outcome {
    let mut ra = Reconciler::new(cfg);
    let mut rb = Reconciler::new(cfg);
    let mut o = Outcome::default();
    let mut msg = ra.initiate(a);
    loop {
        assert!(o.messages < 10_000, "no convergence");
        o.messages += 1;
        o.largest = o.largest.max(msg.len());
        assert!(msg.len() <= cfg.max_message_bytes.max(MIN_MESSAGE_BYTES));
        if o.messages % 2 == 1 {
            o.bytes_a_to_b += msg.len();
            let step = rb.respond(b, &msg).expect("B accepts A's message");
            o.b_have.extend(step.have);
            o.b_need.extend(step.need);
            match step.reply {
                Some(m) => msg = m,
                None => break,
            }
        } else {
            o.bytes_b_to_a += msg.len();
            let step = ra.respond(a, &msg).expect("A accepts B's message");
            o.a_have.extend(step.have);
            o.a_need.extend(step.need);
            match step.reply {
                Some(m) => msg = m,
                None => break,
            }
        }
    }
    assert!(ra.is_finished(), "the initiator ends the session");
    o
}

fn no_dupes(v: &[Item]) -> BTreeSet<Item> {
    let s: BTreeSet<Item> = v.iter().copied().collect();
    assert_eq!(s.len(), v.len(), "an item was reported twice");
    s
}

/// Every difference is reported exactly once, on the right side.
fn check(a: &BTreeSet<Item>, b: &BTreeSet<Item>, o: &Outcome) {
    let mut a_lacks = o.a_need.clone();
    a_lacks.extend(&o.b_have);
    let mut b_lacks = o.a_have.clone();
    b_lacks.extend(&o.b_need);
    let a_lacks = no_dupes(&a_lacks);
    let b_lacks = no_dupes(&b_lacks);
    let want_a: BTreeSet<Item> = b.difference(a).copied().collect();
    let want_b: BTreeSet<Item> = a.difference(b).copied().collect();
    assert_eq!(a_lacks, want_a, "what A lacks");
    assert_eq!(b_lacks, want_b, "what B lacks");
}

fn converge(a: &BTreeSet<Item>, b: &BTreeSet<Item>, cfg: ReconcileConfig) -> Outcome {
    let (ta, tb) = (tree(a), tree(b));
    let o = run(&ta, &tb, cfg);
    check(a, b, &o);
    // And the other way round.
    let o2 = run(&tb, &ta, cfg);
    check(b, a, &o2);
    o
}

// ---------------------------------------------------------------- tree

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, u8),
    Remove(u64, u8),
    Query(u64, u8),
}

fn op() -> impl Strategy<Value = Op> {
    // Small domains: many duplicates, hits on remove, shared timestamps.
    prop_oneof![
        4 => (0u64..200, any::<u8>()).prop_map(|(t, i)| Op::Insert(t, i)),
        2 => (0u64..200, any::<u8>()).prop_map(|(t, i)| Op::Remove(t, i)),
        1 => (0u64..201, any::<u8>()).prop_map(|(t, i)| Op::Query(t, i)),
    ]
}

fn small_item(t: u64, i: u8) -> Item {
    let mut id = [0u8; 32];
    id[0] = i;
    id[31] = i.wrapping_mul(31) | 1;
    Item::new(t, DocId(id))
}

fn model_summary<'a>(it: impl Iterator<Item = &'a Item>) -> Summary {
    Summary::of(it)
}

fn check_against_model(t: &Tree, m: &BTreeSet<Item>, probe: Item) {
    assert_eq!(t.len(), m.len());
    let b = Bound::At(probe);
    let rank = m.range(..probe).count();
    assert_eq!(t.rank(&b), rank);
    assert_eq!(t.prefix(&b), model_summary(m.range(..probe)));
    assert_eq!(t.prefix_by_rank(rank), model_summary(m.range(..probe)));
    assert_eq!(t.select(rank), m.range(probe..).next().copied());
    assert_eq!(t.contains(&probe), m.contains(&probe));
    assert_eq!(
        t.summary(&b, &Bound::Infinity),
        model_summary(m.range(probe..))
    );
    let upper = Item::new(probe.timestamp + 7, probe.id);
    assert_eq!(
        t.summary(&b, &Bound::At(upper)),
        model_summary(m.range(probe..upper))
    );
    assert_eq!(
        t.range(&b, &Bound::At(upper)).collect::<Vec<_>>(),
        m.range(probe..upper).copied().collect::<Vec<_>>()
    );
    assert_eq!(
        t.iter_from(rank).take(5).collect::<Vec<_>>(),
        m.range(probe..).take(5).copied().collect::<Vec<_>>()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_btreeset(ops in prop::collection::vec(op(), 1..3000), start in 0usize..400) {
        // Start from a bulk-built tree, then apply random operations.
        let mut m: BTreeSet<Item> = (0..start as u64).map(|k| small_item(k % 200, (k / 2) as u8)).collect();
        let mut t = tree(&m);
        t.check_invariants().map_err(TestCaseError::fail)?;
        for (n, o) in ops.iter().enumerate() {
            match *o {
                Op::Insert(ts, i) => {
                    let x = small_item(ts, i);
                    prop_assert_eq!(t.insert(x), m.insert(x));
                }
                Op::Remove(ts, i) => {
                    let x = small_item(ts, i);
                    prop_assert_eq!(t.remove(&x), m.remove(&x));
                }
                Op::Query(ts, i) => check_against_model(&t, &m, small_item(ts, i)),
            }
            if n % 97 == 0 {
                t.check_invariants().map_err(TestCaseError::fail)?;
            }
        }
        t.check_invariants().map_err(TestCaseError::fail)?;
        prop_assert!(t.iter().eq(m.iter().copied()));
        prop_assert_eq!(t.total(), model_summary(m.iter()));
    }
}

#[test]
fn deep_tree_inserts_and_removes_match_the_model() {
    // Enough items for three levels; removals shrink it back to empty.
    let mut rng = Rng(7);
    let mut m = BTreeSet::new();
    let mut t = Tree::new();
    for _ in 0..300_000 {
        let x = item(&mut rng, 1 << 20, false);
        assert_eq!(t.insert(x), m.insert(x));
    }
    t.check_invariants().expect("after inserts");
    for _ in 0..200 {
        check_against_model(&t, &m, item(&mut rng, 1 << 20, false));
    }
    // Append-mostly inserts keep leaves dense.
    let per_item = t.heap_bytes() as f64 / t.len() as f64;
    assert!(
        per_item < 80.0,
        "{per_item} bytes per item after random inserts"
    );
    let all: Vec<Item> = m.iter().copied().collect();
    for (k, x) in all.iter().enumerate() {
        if k % 3 != 0 {
            assert!(t.remove(x));
            m.remove(x);
        }
        if k % 50_000 == 0 {
            t.check_invariants().expect("during removes");
        }
    }
    t.check_invariants().expect("after removes");
    assert!(t.iter().eq(m.iter().copied()));
    for x in m.clone() {
        assert!(t.remove(&x));
    }
    assert!(t.is_empty());
    t.check_invariants().expect("emptied");
}

#[test]
fn bulk_build_is_dense_and_equals_inserting() {
    for n in [
        0usize, 1, 15, 63, 64, 65, 100, 4095, 4096, 4097, 4160, 70_000,
    ] {
        let mut rng = Rng(n as u64);
        let items: BTreeSet<Item> = (0..n).map(|_| item(&mut rng, 1 << 30, false)).collect();
        let t = tree(&items);
        t.check_invariants()
            .unwrap_or_else(|e| panic!("n={n}: {e}"));
        let mut t2 = Tree::new();
        for x in &items {
            t2.insert(*x);
        }
        t2.check_invariants()
            .unwrap_or_else(|e| panic!("n={n}: {e}"));
        assert!(t.iter().eq(t2.iter()));
        assert_eq!(t.total(), t2.total());
        if n >= 4096 {
            let per_item = t.heap_bytes() as f64 / n as f64;
            assert!(per_item <= 48.0, "n={n}: {per_item} bytes per item");
            // Appending in order keeps the tree as dense as a bulk build.
            let per_item2 = t2.heap_bytes() as f64 / n as f64;
            assert!(per_item2 <= 48.0, "n={n}: {per_item2} bytes per item");
        }
    }
    let x = Item::new(5, DocId([1; 32]));
    assert_eq!(
        Tree::from_sorted([x, x]).map(|_| ()),
        Err(chapar_proto::reconcile::UnsortedInput { position: 1 })
    );
}

#[test]
fn bound_between_is_shortest_separator() {
    let a = Item::new(10, DocId([0xaa; 32]));
    let b = Item::new(12, DocId([0x01; 32]));
    // 10 = 0b1010, 12 = 0b1100: 12 is the roundest timestamp in (10, 12].
    assert_eq!(
        Bound::between(&a, &b),
        Bound::At(Item::new(12, DocId([0; 32])))
    );
    let d = Item::new(0x1_0001, DocId([0x01; 32]));
    assert_eq!(
        Bound::between(&a, &d),
        Bound::At(Item::new(0x1_0000, DocId([0; 32])))
    );
    let mut id = [0xaa; 32];
    id[2] = 0xab;
    let c = Item::new(10, DocId(id));
    let mut want = [0u8; 32];
    want[..3].copy_from_slice(&[0xaa, 0xaa, 0xab]);
    assert_eq!(
        Bound::between(&a, &c),
        Bound::At(Item::new(10, DocId(want)))
    );
    for (lo, hi) in [(a, b), (a, c), (a, d)] {
        let s = Bound::between(&lo, &hi);
        assert!(s.is_above(&lo) && !s.is_above(&hi));
    }
}

// ------------------------------------------------------ convergence

#[test]
fn identical_sets_take_one_round_trip() {
    for n in [0usize, 1, 16, 17, 1000, 20_000] {
        let (a, b) = sets(n as u64, n, 0, 0, 1 << 40);
        let o = converge(&a, &b, ReconcileConfig::default());
        assert!(o.messages <= 2, "n={n}: {} messages", o.messages);
    }
}

#[test]
fn edge_overlaps_converge() {
    let cfg = ReconcileConfig::default();
    // (shared, a_only, b_only, timestamp span)
    let cases = [
        (0, 0, 0, 1 << 40),
        (0, 1, 0, 1 << 40),
        (0, 0, 1, 1 << 40),
        (0, 5000, 0, 1 << 40),    // B empty
        (0, 0, 5000, 1 << 40),    // A empty
        (0, 3000, 4000, 1 << 40), // disjoint
        (5000, 2000, 0, 1 << 40), // B subset of A
        (5000, 0, 2000, 1 << 40), // A subset of B
        (5000, 1, 1, 4),          // timestamps shared by ~1000s of items
        (5000, 300, 300, 1),      // one timestamp for everything
        (50_000, 1, 0, 1 << 40),  // large, one difference
        (50_000, 500, 500, 1 << 40),
        (20_000, 20_000, 20_000, 1 << 20),
    ];
    for (k, (s, ao, bo, span)) in cases.into_iter().enumerate() {
        for seed in [k as u64, 1000 + k as u64, 3000 + 3 * k as u64] {
            let (a, b) = sets(seed, s, ao, bo, span);
            converge(&a, &b, cfg);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_sets_converge(
        seed in any::<u64>(),
        shared in 0usize..6000,
        a_only in 0usize..1000,
        b_only in 0usize..1000,
        span in prop_oneof![Just(1u64), Just(50), Just(1 << 40)],
        buckets in 2usize..40,
        threshold in 1usize..60,
    ) {
        let (a, b) = sets(seed, shared, a_only, b_only, span);
        let cfg = ReconcileConfig { buckets, initial_buckets: buckets + 3, id_list_threshold: threshold, ..ReconcileConfig::default() };
        converge(&a, &b, cfg);
    }

    #[test]
    fn tiny_message_limit_still_converges(
        seed in any::<u64>(),
        shared in 0usize..3000,
        a_only in 0usize..300,
        b_only in 0usize..300,
        span in prop_oneof![Just(1u64), Just(1 << 40)],
        limit in prop_oneof![Just(MIN_MESSAGE_BYTES), Just(512usize), 256usize..2000],
    ) {
        let (a, b) = sets(seed, shared, a_only, b_only, span);
        let cfg = ReconcileConfig { max_message_bytes: limit, ..ReconcileConfig::default() };
        let o = converge(&a, &b, cfg);
        prop_assert!(o.largest <= limit);
    }
}

#[test]
fn limit_512_many_differences() {
    let (a, b) = sets(99, 10_000, 2000, 2000, 1 << 40);
    let cfg = ReconcileConfig {
        max_message_bytes: 512,
        ..ReconcileConfig::default()
    };
    let o = converge(&a, &b, cfg);
    assert!(o.largest <= 512);
    let big = converge(&a, &b, ReconcileConfig::default());
    assert!(o.messages > big.messages, "a tiny limit needs more rounds");
}

/// The target, checked at 10^5 items (the bench checks 10^6):
/// one difference costs at most 3 round trips and 2 KB in total.
#[test]
fn one_difference_in_100k_meets_the_targets() {
    for (seed, a_only, b_only) in [(1, 1, 0), (2, 0, 1), (3, 1, 0), (4, 0, 1), (5, 1, 0)] {
        let (a, b) = sets(seed, 100_000, a_only, b_only, 1 << 37);
        let o = converge(&a, &b, ReconcileConfig::default());
        assert!(o.round_trips() <= 3, "{} round trips", o.round_trips());
        assert!(o.bytes() <= 2000, "{} bytes", o.bytes());
    }
}

// ---------------------------------------------------------- hostile

fn some_messages() -> Vec<Vec<u8>> {
    // Every message of a few sessions, plus first messages.
    let mut out = Vec::new();
    for (seed, s, ao, bo, span) in [
        (1u64, 2000usize, 30usize, 30usize, 1u64 << 40),
        (3, 500, 5, 0, 2),
        (6, 40, 3, 3, 1 << 40),
        (7, 0, 10, 0, 1 << 40),
    ] {
        let (a, b) = sets(seed, s, ao, bo, span);
        let (ta, tb) = (tree(&a), tree(&b));
        let cfg = ReconcileConfig::default();
        let mut ra = Reconciler::new(cfg);
        let mut rb = Reconciler::new(cfg);
        let mut msg = ra.initiate(&ta);
        for k in 0.. {
            out.push(msg.clone());
            let (r, t) = if k % 2 == 0 {
                (&mut rb, &tb)
            } else {
                (&mut ra, &ta)
            };
            match r.respond(t, &msg).expect("valid").reply {
                Some(m) => msg = m,
                None => break,
            }
        }
    }
    out
}

#[test]
fn produced_messages_are_canonical() {
    for m in some_messages() {
        assert_eq!(canonical_form(&m, 1 << 16).as_ref(), Ok(&m));
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(m: &[u8], mu: &Mutation) -> Vec<u8> {
    let mut v = m.to_vec();
    if v.is_empty() {
        return v;
    }
    match *mu {
        Mutation::Flip(i, x) => {
            let i = i % v.len();
            v[i] ^= x;
        }
        Mutation::Insert(i, x) => v.insert(i % (v.len() + 1), x),
        Mutation::Delete(i) => {
            v.remove(i % v.len());
        }
        Mutation::Truncate(i) => v.truncate(i % v.len()),
    }
    v
}

/// A hostile message must give a typed error or a valid step, never a
/// panic; whatever is accepted is canonical.
fn feed(msg: &[u8], t: &Tree) {
    let mut r = Reconciler::new(ReconcileConfig::default());
    let accepted = r.respond(t, msg);
    let canon = canonical_form(msg, 1 << 16);
    assert_eq!(accepted.is_ok(), canon.is_ok(), "{accepted:?} vs {canon:?}");
    if let Ok(c) = canon {
        assert_eq!(c, msg);
    }
    if let Ok(step) = accepted
        && let Some(reply) = step.reply
    {
        assert!(reply.len() <= 1 << 16);
        assert!(canonical_form(&reply, 1 << 16).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), versioned in any::<bool>()) {
        static T: OnceLock<Tree> = OnceLock::new();
        let t = T.get_or_init(|| tree(&sets(5, 3000, 0, 0, 1 << 40).0));
        let mut b = bytes;
        if versioned {
            b.insert(0, PROTOCOL_VERSION);
        }
        feed(&b, t);
    }

    #[test]
    fn mutated_messages_never_panic(pick in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        static M: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        static T: OnceLock<Tree> = OnceLock::new();
        let mut m = pick.get(M.get_or_init(some_messages)).clone();
        for mu in &mutations {
            m = apply(&m, mu);
        }
        let t = T.get_or_init(|| tree(&sets(6, 40, 3, 3, 1 << 40).0));
        feed(&m, t);
    }
}

#[test]
fn hostile_headers_are_refused() {
    let t = tree(&sets(1, 100, 0, 0, 1 << 40).0);
    let mut r = Reconciler::new(ReconcileConfig::default());
    // No version byte.
    assert!(matches!(
        r.respond(&t, &[]),
        Err(ReconcileError::Malformed(_))
    ));
    assert_eq!(
        r.respond(&t, &[9]),
        Err(ReconcileError::UnsupportedVersion(9))
    );
    // Too large.
    assert!(matches!(
        r.respond(&t, &vec![PROTOCOL_VERSION; 70_000]),
        Err(ReconcileError::TooLarge { .. })
    ));
    // An id list claiming 2^40 items: refused before allocating.
    let mut m = vec![PROTOCOL_VERSION, 2 | (33 << 2)];
    m.extend([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert!(matches!(
        r.respond(&t, &m),
        Err(ReconcileError::Malformed(_))
    ));
    // Mode 3, prefix length 34.
    assert!(r.respond(&t, &[PROTOCOL_VERSION, 3]).is_err());
    assert!(r.respond(&t, &[PROTOCOL_VERSION, 1 | (34 << 2)]).is_err());
    // A trailing skip and a range after infinity.
    assert!(r.respond(&t, &[PROTOCOL_VERSION, 0, 5]).is_err());
    let mut m = vec![PROTOCOL_VERSION, 1 | (33 << 2)];
    m.extend([0u8; 16]);
    m.extend([1, 5]);
    m.extend([0u8; 16]);
    assert!(r.respond(&t, &m).is_err());
    // Non-minimal varint in a bound.
    let mut m = vec![PROTOCOL_VERSION, 1, 0x85, 0x00];
    m.extend([0u8; 16]);
    assert!(r.respond(&t, &m).is_err());
    // Id prefix ending in zero.
    let mut m = vec![PROTOCOL_VERSION, 1 | (2 << 2), 5, 7, 0];
    m.extend([0u8; 16]);
    assert!(r.respond(&t, &m).is_err());
    // Refusals leave the session usable; an empty message ends it.
    let ok = r.respond(&t, &[PROTOCOL_VERSION]).expect("empty message");
    assert_eq!(ok.reply, None);
    assert!(r.is_finished());
    assert_eq!(
        r.respond(&t, &[PROTOCOL_VERSION]),
        Err(ReconcileError::Finished)
    );
}
