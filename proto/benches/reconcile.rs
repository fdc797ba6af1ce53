//! Range-based set reconciliation at 10^6 items: round trips, bytes each
//! way and CPU time of each side for 1, 100 and 10,000 differences, plus
//! tree build time and memory per item.
//!
//! `cargo bench -p chapar-proto --bench reconcile` (add `-- --json` for
//! JSON lines, `-- --buckets N --threshold N --initial N` to try other
//! parameters).

use std::time::{Duration, Instant};

use chapar_proto::DocId;
use chapar_proto::reconcile::{Item, ReconcileConfig, Reconciler, Tree};

const SHARED: usize = 1_000_000;
/// Mean gap between documents: 10^6 documents over about five years, in
/// milliseconds (chapar timestamps are Unix milliseconds).
const MEAN_GAP_MS: u64 = 160_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` items in ascending order: timestamps with random gaps (mean
/// `MEAN_GAP_MS`, a few equal), random ids.
fn items(n: usize, seed: u64) -> Vec<Item> {
    let mut rng = Rng(seed);
    let mut ts = 1_700_000_000_000u64;
    (0..n)
        .map(|_| {
            ts += rng.next() % (2 * MEAN_GAP_MS);
            let mut id = [0u8; 32];
            for c in id.chunks_mut(8) {
                c.copy_from_slice(&rng.next().to_le_bytes());
            }
            Item::new(ts, DocId(id))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

struct Run {
    diffs: usize,
    messages: usize,
    bytes_a_to_b: usize,
    bytes_b_to_a: usize,
    cpu_a: Duration,
    cpu_b: Duration,
    reported: usize,
}

/// `all` holds SHARED + `diffs` items; every `all.len() / diffs`-th one is
/// a difference, alternately on A's and B's side.
fn session(all: &[Item], diffs: usize, cfg: ReconcileConfig) -> Run {
    let stride = all.len() / diffs.max(1);
    let mut a = Vec::with_capacity(all.len());
    let mut b = Vec::with_capacity(all.len());
    let mut k = 0;
    for (i, x) in all.iter().enumerate() {
        if diffs > 0 && i % stride == stride / 2 && k < diffs {
            if k % 2 == 0 { &mut a } else { &mut b }.push(*x);
            k += 1;
        } else {
            a.push(*x);
            b.push(*x);
        }
    }
    let ta = Tree::from_sorted(a).expect("sorted");
    let tb = Tree::from_sorted(b).expect("sorted");
    let mut ra = Reconciler::new(cfg);
    let mut rb = Reconciler::new(cfg);
    let (mut cpu_a, mut cpu_b) = (Duration::ZERO, Duration::ZERO);
    let mut reported = 0;
    let t = Instant::now();
    let mut msg = ra.initiate(&ta);
    cpu_a += t.elapsed();
    let mut messages = 1;
    loop {
        let (r, tree, cpu) = if messages % 2 == 1 {
            (&mut rb, &tb, &mut cpu_b)
        } else {
            (&mut ra, &ta, &mut cpu_a)
        };
        let t = Instant::now();
        let step = r.respond(tree, &msg).expect("respond");
        *cpu += t.elapsed();
        reported += step.have.len() + step.need.len();
        match step.reply {
            Some(m) => {
                msg = m;
                messages += 1;
            }
            None => break,
        }
    }
    assert_eq!(reported, diffs, "every difference reported once");
    Run {
        diffs,
        messages,
        bytes_a_to_b: ra.stats().bytes_sent as usize,
        bytes_b_to_a: rb.stats().bytes_sent as usize,
        cpu_a,
        cpu_b,
        reported,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let d = ReconcileConfig::default();
    let cfg = ReconcileConfig {
        buckets: arg("--buckets", d.buckets),
        initial_buckets: arg("--initial", d.initial_buckets),
        id_list_threshold: arg("--threshold", d.id_list_threshold),
        ..d
    };
    let all = items(SHARED + 10_000, 42);

    // Start-up path: build from the store's sorted (timestamp, id) index.
    let shared: Vec<Item> = all[..SHARED].to_vec();
    let t = Instant::now();
    let tree = Tree::from_sorted(shared.iter().copied()).expect("sorted");
    let build = t.elapsed();
    let bytes_per_item = tree.heap_bytes() as f64 / tree.len() as f64;
    // Live path: inserting new documents (appends) and random inserts.
    let mut live = tree.clone();
    let extra = &all[SHARED..];
    let t = Instant::now();
    for x in extra {
        live.insert(*x);
    }
    let append_ns = t.elapsed().as_nanos() as f64 / extra.len() as f64;
    let mut scattered = Tree::from_sorted(all.iter().step_by(2).copied()).expect("sorted");
    let odd: Vec<Item> = all.iter().skip(1).step_by(10).copied().collect();
    let t = Instant::now();
    for x in &odd {
        scattered.insert(*x);
    }
    let random_ns = t.elapsed().as_nanos() as f64 / odd.len() as f64;
    let scattered_bytes = scattered.heap_bytes() as f64 / scattered.len() as f64;
    drop((live, scattered, tree));

    if json {
        println!(
            "{{\"items\":{SHARED},\"build_ms\":{:.1},\"bytes_per_item\":{bytes_per_item:.1},\"append_insert_ns\":{append_ns:.0},\"random_insert_ns\":{random_ns:.0},\"bytes_per_item_after_random_inserts\":{scattered_bytes:.1}}}",
            ms(build)
        );
    } else {
        println!("tree of {SHARED} items (timestamps ms, mean gap {MEAN_GAP_MS} ms, random ids)");
        println!(
            "  build from sorted      {:>8.1} ms   memory {bytes_per_item:.1} bytes/item",
            ms(build)
        );
        println!("  insert (append)        {append_ns:>8.0} ns/item");
        println!(
            "  insert (random)        {random_ns:>8.0} ns/item   memory after: {scattered_bytes:.1} bytes/item"
        );
        println!(
            "reconcile {SHARED} shared items: {} KiB messages, {} initial buckets, {} buckets, id lists <= {}",
            cfg.max_message_bytes / 1024,
            cfg.initial_buckets,
            cfg.buckets,
            cfg.id_list_threshold
        );
        println!(
            "  {:>7} {:>9} {:>12} {:>11} {:>11} {:>10} {:>10}",
            "diffs", "messages", "round trips", "bytes A→B", "bytes B→A", "CPU A ms", "CPU B ms"
        );
    }
    for diffs in [1usize, 100, 10_000] {
        let r = session(&all[..SHARED + diffs], diffs, cfg);
        let rt = r.messages.div_ceil(2);
        if diffs == 1 && cfg == ReconcileConfig::default() {
            // The target (negentropy: ~3 round trips, ~1.5 KB).
            assert!(rt <= 3 && r.bytes_a_to_b + r.bytes_b_to_a <= 2000);
        }
        if json {
            println!(
                "{{\"items\":{SHARED},\"diffs\":{},\"messages\":{},\"round_trips\":{rt},\"bytes_a_to_b\":{},\"bytes_b_to_a\":{},\"cpu_a_ms\":{:.2},\"cpu_b_ms\":{:.2},\"reported\":{}}}",
                r.diffs,
                r.messages,
                r.bytes_a_to_b,
                r.bytes_b_to_a,
                ms(r.cpu_a),
                ms(r.cpu_b),
                r.reported
            );
        } else {
            println!(
                "  {:>7} {:>9} {:>12} {:>11} {:>11} {:>10.2} {:>10.2}",
                r.diffs,
                r.messages,
                rt,
                r.bytes_a_to_b,
                r.bytes_b_to_a,
                ms(r.cpu_a),
                ms(r.cpu_b)
            );
        }
    }
}
