//! Relevance of chapar's search against plain tantivy, on a standard test
//! collection with relevance judgements (issue 14).
//!
//! The collection's documents become signed UNCLASSIFIED wiki pages (title
//! and text) in a real [`SearchIndex`]; every judged query is asked, as
//! typed, through [`SearchIndex::search`] — the code path of `chapar
//! search` — by a reader of the lowest clearance who may read them all.
//! In the same run the same documents go into a plain tantivy index (two
//! `TEXT` fields with tantivy's `en_stem` analyzer, BM25, the query parser
//! over both fields with its default OR), and the same queries are asked
//! there. Both get nDCG@10 (binary judgements) and MAP over the first 1,000
//! answers.
//!
//! `cargo bench -p chapar-search --bench relevance` runs the CISI collection
//! in `corpus/cisi`. `-- --collection DIR` runs another collection in the
//! same SMART layout (one `*.ALL`, `*.QRY` and `*.REL` file in DIR, as
//! CISI, CACM, MED and CRAN are distributed); `--json` ends the output with
//! one summary line; `--per-query` prints each query's figures.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chapar_proto::keys::signing_key_from_seed;
use chapar_proto::{
    Body, Classification, Country, Document, Id, Mission, MissionKind, PageId, Person, PublicKey,
    Role, Roles, Roster, Trust, WikiRevision,
};
use chapar_search::{SearchIndex, SearchRequest};
use serde_json::json;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, STORED, Schema, TextFieldIndexing, TextOptions, Value as _};
use tantivy::{Index, TantivyDocument};

/// Creation time of the first page.
const T0: u64 = 1_763_000_000_000;
/// Answers scored for MAP.
const DEPTH: usize = 1000;
/// Answers scored for nDCG.
const NDCG_AT: usize = 10;

struct Args {
    collection: PathBuf,
    json: bool,
    per_query: bool,
}

fn args() -> Args {
    let mut a = Args {
        collection: Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/cisi"),
        json: false,
        per_query: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--collection" => {
                a.collection = it.next().map(PathBuf::from).unwrap_or_else(|| {
                    fail("--collection needs a directory");
                })
            }
            "--json" => a.json = true,
            "--per-query" => a.per_query = true,
            "--bench" => {}
            "--help" | "-h" => {
                println!(
                    "flags: --collection DIR (SMART layout: *.ALL *.QRY *.REL), --json, --per-query"
                );
                std::process::exit(0);
            }
            other => fail(&format!("unknown flag {other}; see --help")),
        }
    }
    a
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------
// The collection.

/// One document or query of a SMART-format file: `.I n`, then fields
/// `.T` (title), `.W` (text) and others, each running to the next field.
#[derive(Default)]
struct Record {
    n: u32,
    title: String,
    text: String,
}

fn parse_smart(text: &str) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut field = ' ';
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(".I") {
            let n = rest.trim().parse().unwrap_or_else(|_| {
                fail(&format!("bad record line {line:?}"));
            });
            out.push(Record {
                n,
                ..Record::default()
            });
            field = ' ';
            continue;
        }
        if line.len() == 2 && line.starts_with('.') {
            field = line.as_bytes()[1] as char;
            continue;
        }
        let Some(r) = out.last_mut() else { continue };
        let target = match field {
            'T' => &mut r.title,
            'W' => &mut r.text,
            _ => continue,
        };
        if !target.is_empty() {
            target.push(' ');
        }
        target.push_str(line.trim());
    }
    out
}

/// Judgements: query number → relevant document numbers. Accepts CISI's
/// `q d 0 0.0`, TREC's `q 0 d rel` and CRAN's `q d rel` lines.
fn parse_rel(text: &str) -> BTreeMap<u32, HashSet<u32>> {
    let mut out: BTreeMap<u32, HashSet<u32>> = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| cols.get(i).and_then(|c| c.parse::<i64>().ok());
        let (q, d) = match (num(0), num(1), num(2), cols.len()) {
            // TREC: query, iteration 0, document, relevance (> 0).
            (Some(q), Some(0), Some(d), 4) => {
                if num(3).unwrap_or(0) <= 0 {
                    continue;
                }
                (q, d)
            }
            (Some(q), Some(d), _, 3 | 4) => (q, d),
            _ => continue,
        };
        if let (Ok(q), Ok(d)) = (u32::try_from(q), u32::try_from(d)) {
            out.entry(q).or_default().insert(d);
        }
    }
    out
}

fn file_with(dir: &Path, ext: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", dir.display())))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case(ext.trim_start_matches('.')))
        })
        .collect();
    match found.as_slice() {
        [one] => one.clone(),
        _ => fail(&format!(
            "{} needs exactly one {ext} file, found {}",
            dir.display(),
            found.len()
        )),
    }
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---------------------------------------------------------------------------
// chapar.

fn id(s: &str) -> Id {
    Id::new(s).expect("valid id")
}

fn trust() -> Trust {
    let mut r = Roster::new("Ministry of Foreign Affairs", [0xca; 32]);
    r.version = 1;
    r.add_mission(Mission {
        id: id("mfa"),
        name: "Ministry".into(),
        country: Country::new("UZ").expect("country"),
        kind: MissionKind::Ministry,
    })
    .expect("mission");
    for (pid, seed, roles) in [
        ("librarian", 40u8, &[Role::Reader, Role::Editor][..]),
        ("reader", 41, &[Role::Reader][..]),
    ] {
        r.add_person(Person {
            id: id(pid),
            name: pid.into(),
            mission: id("mfa"),
            signing_key: PublicKey(signing_key_from_seed([seed; 32]).verifying_key().to_bytes()),
            clearance: Classification::Unclassified,
            captions: Vec::new(),
            roles: Roles::of(roles),
        })
        .expect("person");
    }
    Trust::new(
        PublicKey(signing_key_from_seed([1; 32]).verifying_key().to_bytes()),
        r,
    )
}

fn page_id(n: u32) -> PageId {
    let mut p = [0u8; 16];
    p[..4].copy_from_slice(&n.to_be_bytes());
    PageId(p)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn chapar_index(docs: &[Record], trust: &Trust, dir: &Path) -> SearchIndex {
    let key = signing_key_from_seed([40; 32]);
    let (index, _) = SearchIndex::open(dir).expect("chapar index");
    for (i, d) in docs.iter().enumerate() {
        let doc = Document::sign(
            &key,
            T0 + i as u64,
            Body::WikiRevision(WikiRevision {
                page: page_id(d.n),
                parents: vec![],
                // A page needs a title: a bare number matches no query.
                title: if d.title.is_empty() {
                    d.n.to_string()
                } else {
                    d.title.clone()
                },
                classification: Classification::Unclassified,
                caption: None,
                body: d.text.clone(),
                summary: "imported".into(),
            }),
        )
        .expect("sign page");
        index.add(&doc, trust).expect("index page");
    }
    index.commit(b"relevance").expect("commit");
    index
}

/// The first [`DEPTH`] answers of chapar, as document numbers.
fn chapar_ranking(
    index: &SearchIndex,
    reader: &Person,
    query: &str,
    pages: &HashMap<String, u32>,
) -> Vec<u32> {
    let mut out = Vec::new();
    while out.len() < DEPTH {
        let req = SearchRequest {
            query: query.into(),
            offset: out.len(),
            limit: chapar_search::api::MAX_LIMIT,
            ..SearchRequest::default()
        };
        let res = index.search(&req, reader).expect("search");
        let n = res.hits.len();
        out.extend(
            res.hits
                .iter()
                .filter_map(|h| h.page.as_ref().and_then(|p| pages.get(p)).copied()),
        );
        if n < chapar_search::api::MAX_LIMIT {
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Plain tantivy.

struct Plain {
    index: Index,
    n: Field,
    title: Field,
    text: Field,
}

fn plain_index(docs: &[Record], dir: &Path) -> Plain {
    let mut sb = Schema::builder();
    let text_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
    );
    let n = sb.add_u64_field("n", STORED);
    let title = sb.add_text_field("title", text_opts.clone());
    let text = sb.add_text_field("text", text_opts);
    let index = Index::create_in_dir(dir, sb.build()).expect("plain index");
    let mut w = index.writer(128 << 20).expect("plain writer");
    for d in docs {
        let mut doc = TantivyDocument::default();
        doc.add_u64(n, u64::from(d.n));
        doc.add_text(title, &d.title);
        doc.add_text(text, &d.text);
        w.add_document(doc).expect("plain add");
    }
    w.commit().expect("plain commit");
    Plain {
        index,
        n,
        title,
        text,
    }
}

fn plain_ranking(p: &Plain, query: &str) -> Vec<u32> {
    let reader = p.index.reader().expect("plain reader");
    let searcher = reader.searcher();
    let parser = QueryParser::for_index(&p.index, vec![p.title, p.text]);
    let (q, _) = parser.parse_query_lenient(query);
    let top = searcher
        .search(&q, &TopDocs::with_limit(DEPTH).order_by_score())
        .expect("plain search");
    top.into_iter()
        .filter_map(|(_, addr)| {
            let d: TantivyDocument = searcher.doc(addr).ok()?;
            d.get_first(p.n)
                .and_then(|v| v.as_u64())
                .and_then(|n| u32::try_from(n).ok())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Measures.

fn ndcg(ranking: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, d)| relevant.contains(d))
        .map(|(i, _)| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|i| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    if ideal == 0.0 { 0.0 } else { dcg / ideal }
}

fn average_precision(ranking: &[u32], relevant: &HashSet<u32>) -> f64 {
    let mut hits = 0.0;
    let mut sum = 0.0;
    for (i, d) in ranking.iter().enumerate() {
        if relevant.contains(d) {
            hits += 1.0;
            sum += hits / (i as f64 + 1.0);
        }
    }
    if relevant.is_empty() {
        0.0
    } else {
        sum / relevant.len() as f64
    }
}

#[derive(Default)]
struct Scores {
    ndcg: f64,
    map: f64,
    empty: usize,
}

fn main() {
    let a = args();
    let t_run = Instant::now();
    let dir = &a.collection;
    let docs = parse_smart(&read(&file_with(dir, "ALL")));
    let queries = parse_smart(&read(&file_with(dir, "QRY")));
    let rel = parse_rel(&read(&file_with(dir, "REL")));
    let judged: Vec<&Record> = queries
        .iter()
        .filter(|q| rel.get(&q.n).is_some_and(|r| !r.is_empty()))
        .collect();
    let name = dir
        .file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
    eprintln!(
        "{name}: {} documents, {} queries, {} judged",
        docs.len(),
        queries.len(),
        judged.len()
    );
    if judged.is_empty() {
        fail("no judged query: is the .REL file in one of the known layouts?");
    }

    let tmp = tempfile::tempdir().expect("temp dir");
    let trust = trust();
    let reader = trust
        .roster()
        .person(&id("reader"))
        .expect("reader")
        .clone();
    let t = Instant::now();
    let chapar = chapar_index(&docs, &trust, &tmp.path().join("chapar"));
    let chapar_secs = t.elapsed().as_secs_f64();
    let plain_dir = tmp.path().join("plain");
    std::fs::create_dir_all(&plain_dir).expect("mkdir");
    let t = Instant::now();
    let plain = plain_index(&docs, &plain_dir);
    let plain_secs = t.elapsed().as_secs_f64();
    eprintln!("indexed: chapar {chapar_secs:.2} s, plain tantivy {plain_secs:.2} s");

    let pages: HashMap<String, u32> = docs.iter().map(|d| (hex(&page_id(d.n).0), d.n)).collect();
    let mut sc = Scores::default();
    let mut sp = Scores::default();
    let t = Instant::now();
    for q in &judged {
        let relevant = &rel[&q.n];
        let rc = chapar_ranking(&chapar, &reader, &q.text, &pages);
        let rp = plain_ranking(&plain, &q.text);
        let (nc, np) = (ndcg(&rc, relevant, NDCG_AT), ndcg(&rp, relevant, NDCG_AT));
        let (mc, mp) = (
            average_precision(&rc, relevant),
            average_precision(&rp, relevant),
        );
        sc.ndcg += nc;
        sp.ndcg += np;
        sc.map += mc;
        sp.map += mp;
        sc.empty += usize::from(rc.is_empty());
        sp.empty += usize::from(rp.is_empty());
        if a.per_query {
            println!(
                "q{:<4} rel {:>3} | chapar nDCG {nc:.3} AP {mc:.3} ({} answers) | plain nDCG {np:.3} AP {mp:.3}",
                q.n,
                relevant.len(),
                rc.len()
            );
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let n = judged.len() as f64;
    let (cn, pn, cm, pm) = (sc.ndcg / n, sp.ndcg / n, sc.map / n, sp.map / n);
    println!(
        "{name}: {} documents, {} judged queries asked as typed (both engines, {secs:.1} s)",
        docs.len(),
        judged.len()
    );
    println!("| engine | nDCG@{NDCG_AT} | MAP@{DEPTH} | queries with no answer |");
    println!("|---|---|---|---|");
    println!("| chapar | {cn:.4} | {cm:.4} | {} |", sc.empty);
    println!(
        "| plain tantivy (en_stem, BM25, OR) | {pn:.4} | {pm:.4} | {} |",
        sp.empty
    );
    println!(
        "chapar / plain: nDCG@{NDCG_AT} {:.3}, MAP {:.3} (target: nDCG ≥ 1.10)",
        cn / pn,
        cm / pm
    );
    if a.json {
        println!(
            "{}",
            json!({
                "collection": name,
                "documents": docs.len(),
                "judged_queries": judged.len(),
                "chapar": {"ndcg10": cn, "map": cm, "no_answer": sc.empty},
                "plain": {"ndcg10": pn, "map": pm, "no_answer": sp.empty},
                "ndcg_ratio": cn / pn,
                "map_ratio": cm / pm,
                "secs": t_run.elapsed().as_secs_f64(),
            })
        );
    }
}
