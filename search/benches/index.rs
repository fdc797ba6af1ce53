//! The search index's figures for issue 4, measured in one run so that the
//! ratios are meaningful on a noisy machine:
//!
//! 1. indexing throughput of [`SearchIndex`] against plain tantivy (two
//!    `TEXT` fields, default tokenizer, same threads and memory budget),
//!    on the UN General Debate speeches as wiki pages and on a seeded
//!    synthetic set of cable releases;
//! 2. query latency with access filters at several index sizes, for a
//!    person of mid clearance and one of TOP SECRET clearance;
//! 3. resident memory of a fresh process that opens the largest index and
//!    runs one query;
//! 4. segment count and commit time under a trickle of single arrivals,
//!    each committed (the node's worst case), on a real disk.
//!
//! `cargo bench -p chapar-search --bench index` runs the sizes
//! (1,000,000 cables; half an hour or more on 2 cores, ~8 GB of memory for the
//! pre-signed cables). Smaller: `-- --cables 20000 --query-sizes 2000,20000
//! --trickle 500`. `--help` lists every flag; `--json` ends the output with
//! one summary line.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chapar_proto::keys::signing_key_from_seed;
use chapar_proto::{
    Body, Cable, CableRelease, Caption, Classification, Country, Document, Id, Mission,
    MissionKind, PageId, Person, Precedence, PublicKey, Role, Roles, Roster, Tag, Trust,
    WikiRevision,
};
use chapar_search::analysis::ChaparTokenizer;
use chapar_search::entry::entries;
use chapar_search::{SearchIndex, SearchRequest};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use tantivy::schema::{STORED, Schema, TEXT};
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream, Tokenizer,
};
use tantivy::{Index, IndexWriter, TantivyDocument};

/// The chapar writer's memory budget (`WRITER_BUDGET` in `src/index.rs`),
/// given to plain tantivy too so both flush segments equally often.
const WRITER_BUDGET: usize = 128 << 20;
/// Creation time of the first synthetic document (Nov 2025).
const T0: u64 = 1_763_000_000_000;
/// Seed of everything random here: every run indexes the same cables and
/// asks the same queries.
const SEED: u64 = 0x00c4_a9a2_2025_0004;
/// Cables generated from one seed: the set is the same whatever the
/// number of generating threads.
const CHUNK: usize = 4096;

const USAGE: &str = "\
flags (defaults are the issue's sizes):
  --cables N          synthetic cable releases to index (1000000)
  --query-sizes A,B   index sizes to time queries at (100000,1000000);
                      sizes above --cables are cut to it
  --queries N         timed queries per query shape and person (1000)
  --warmup N          untimed queries before timing, per index (300)
  --rounds N          indexing rounds of the ungd speeches (5)
  --cable-rounds N    indexing rounds of the cables (1)
  --sample N          cables the cost breakdown runs over (20000)
  --trickle N         single arrivals, each committed; 0 skips (10000)
  --dir PATH          where indexes are built (the system temp dir);
                      must be a real disk for the trickle
  --json              end with one JSON summary line";

struct Args {
    cables: usize,
    query_sizes: Vec<usize>,
    queries: usize,
    warmup: usize,
    rounds: usize,
    cable_rounds: usize,
    sample: usize,
    trickle: usize,
    dir: PathBuf,
    json: bool,
    /// Internal: the child process of section 3.
    rss_probe: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        cables: 1_000_000,
        query_sizes: vec![100_000, 1_000_000],
        queries: 1000,
        warmup: 300,
        rounds: 5,
        cable_rounds: 1,
        sample: 20_000,
        trickle: 10_000,
        dir: std::env::temp_dir(),
        json: false,
        rss_probe: None,
    };
    let mut it = std::env::args().skip(1);
    let number = |flag: &str, v: Option<String>| -> usize {
        v.and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("{flag} takes a number\n{USAGE}"))
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--cables" => a.cables = number("--cables", it.next()).max(1),
            "--queries" => a.queries = number("--queries", it.next()),
            "--warmup" => a.warmup = number("--warmup", it.next()),
            "--rounds" => a.rounds = number("--rounds", it.next()).max(1),
            "--cable-rounds" => a.cable_rounds = number("--cable-rounds", it.next()).max(1),
            "--sample" => a.sample = number("--sample", it.next()),
            "--trickle" => a.trickle = number("--trickle", it.next()),
            "--query-sizes" => {
                let v = it.next().unwrap_or_default();
                a.query_sizes = v
                    .split(',')
                    .map(|s| number("--query-sizes", Some(s.to_string())))
                    .collect();
            }
            "--dir" => a.dir = PathBuf::from(it.next().expect("--dir takes a path")),
            "--json" => a.json = true,
            "--rss-probe" => a.rss_probe = it.next().map(PathBuf::from),
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => panic!("unknown flag {other:?}\n{USAGE}"),
        }
    }
    a
}

// ---------------------------------------------------------------------------
// Deterministic randomness and vocabularies.

/// xorshift64*: enough for a benchmark, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that nearby seeds give unrelated
        // streams and 0 is not a fixed point.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    /// Index into `weights`, with probability proportional to the weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// Russian words for cables and queries: the corpus has no Russian,
/// so this paragraph was written for the bench (diplomatic register, the
/// usual inflections, so the Russian stemmer has work to do).
const RUSSIAN: &str = "Министерство иностранных дел Республики Узбекистан сообщает, что \
    в ходе переговоров стороны обсудили вопросы двустороннего сотрудничества в торговой, \
    экономической, инвестиционной и культурно-гуманитарной сферах. Посольство направляет \
    информацию о визите делегации, о подготовке соглашения и меморандума о взаимопонимании. \
    Особое внимание было уделено безопасности в регионе, борьбе с терроризмом, водным \
    ресурсам, энергетике, транспортным коридорам и цифровой дипломатии. Министр подчеркнул \
    важность укрепления доверия между государствами, соблюдения международного права и \
    Устава Организации Объединённых Наций. Просим рассмотреть возможность проведения \
    консультаций на уровне заместителей министров в следующем месяце. Делегация выразила \
    готовность к расширению связей между парламентами, университетами и деловыми кругами. \
    Посол провёл встречу с руководством правительства, обсуждались визовые вопросы, \
    защита прав граждан, трудовая миграция, консульская помощь и поддержка соотечественников. \
    Стороны договорились продолжить работу над проектом договора, согласовать график визитов \
    и подготовить совместное заявление по итогам заседания межправительственной комиссии. \
    Информация носит конфиденциальный характер и не подлежит распространению без согласия \
    отправителя. Дополнительные сведения будут направлены отдельной телеграммой.";

/// Words of one language, most frequent first, with Zipf weights by rank.
struct Vocab {
    name: &'static str,
    words: Vec<String>,
    /// Cumulative `1 / rank` weights.
    cumulative: Vec<f64>,
}

/// Apostrophe-like characters Uzbek Latin writes inside words (oʻ, gʻ,
/// the tutuq belgisi): kept inside a word, as chapar's analysis does.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02bb}' | '\u{02bc}' | '`'
    )
}

/// The words of `texts` (letters, apostrophes between letters; anything
/// with a digit is not a word here), lowercased, counted.
fn count_words(texts: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for text in texts {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if !chars[i].is_alphabetic() {
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphabetic()
                    || (is_apostrophe(chars[i])
                        && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

impl Vocab {
    fn new(name: &'static str, texts: &[String]) -> Vocab {
        let mut ranked: Vec<(String, usize)> = count_words(texts).into_iter().collect();
        // By count, then alphabetically, so the ranks are the same on
        // every run (HashMap order is not).
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let words: Vec<String> = ranked.into_iter().map(|(w, _)| w).collect();
        assert!(!words.is_empty(), "vocabulary {name} is empty");
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocab {
            name,
            words,
            cumulative,
        }
    }

    /// A word with Zipf (s = 1) probability by frequency rank, as word
    /// frequencies in real text go.
    fn zipf(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        &self.words[i.min(self.words.len() - 1)]
    }

    /// A query word: uniformly one of the 200 most frequent words, one of
    /// ranks 200 to 2000, or a rarer one (each band a third of the time),
    /// so queries mix stop words, ordinary and rare words.
    fn query_word(&self, rng: &mut Rng) -> &str {
        let n = self.words.len();
        let (lo, hi) = match rng.below(3) {
            0 => (0, n.min(200)),
            1 => (n.min(200), n.min(2000)),
            _ => (n.min(2000), n),
        };
        // A small vocabulary has no rare band: fall back to all of it.
        let (lo, hi) = if lo >= hi { (0, n) } else { (lo, hi) };
        &self.words[rng.range(lo, hi - 1)]
    }
}

struct Vocabs {
    english: Vocab,
    uzbek_latin: Vocab,
    uzbek_cyrillic: Vocab,
    russian: Vocab,
}

impl Vocabs {
    /// Languages of cables: English most, then Uzbek (both scripts) and
    /// Russian; also the weights of query languages.
    fn all(&self) -> [&Vocab; 4] {
        [
            &self.english,
            &self.uzbek_latin,
            &self.uzbek_cyrillic,
            &self.russian,
        ]
    }
}

const LANGUAGE_WEIGHTS: [u32; 4] = [55, 20, 15, 10];
const QUERY_LANGUAGE_WEIGHTS: [u32; 4] = [50, 20, 20, 10];

/// The repository's `corpus/` directory.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (see corpus/README.md)", path.display()))
}

/// The ungd speeches: (file name, text), by file name.
fn speeches() -> Vec<(String, String)> {
    let dir = corpus_dir().join("ungd");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (see corpus/README.md)", dir.display()))
        .map(|entry| entry.expect("directory entry of corpus/ungd").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        // The corpus's own UNGDC_README.txt sits among the speeches.
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.to_ascii_uppercase().contains("README"))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .expect("corpus file name is UTF-8")
                .to_string();
            (name, read(p))
        })
        .collect()
}

fn vocabs(speeches: &[(String, String)]) -> Vocabs {
    let english: Vec<String> = speeches.iter().map(|(_, t)| t.clone()).collect();
    let uzbek = corpus_dir().join("uzbek");
    Vocabs {
        english: Vocab::new("english", &english),
        uzbek_latin: Vocab::new(
            "uzbek-latin",
            &[read(&uzbek.join("axborot-almashinuvi-latin.txt"))],
        ),
        uzbek_cyrillic: Vocab::new(
            "uzbek-cyrillic",
            &[read(&uzbek.join("axborot-almashinuvi-cyrillic.txt"))],
        ),
        russian: Vocab::new("russian", &[RUSSIAN.to_string()]),
    }
}

/// Appends `word`, capitalised if `capital`.
fn push_word(out: &mut String, word: &str, capital: bool) {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) if capital => {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
        _ => out.push_str(word),
    }
}

/// Cable text of about `target` bytes: numbered paragraphs of sentences of
/// Zipf-drawn words, mostly in the cable's language with a few English
/// words (names, terms) mixed in, as real cables have.
fn cable_text(v: &Vocabs, lang: &Vocab, rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 200);
    let mut paragraph = 1;
    while out.len() < target {
        let _ = write!(out, "{paragraph}. ");
        paragraph += 1;
        for _ in 0..rng.range(2, 5) {
            let n = rng.range(6, 22);
            for i in 0..n {
                let from = if rng.below(20) == 0 { &v.english } else { lang };
                push_word(&mut out, from.zipf(rng), i == 0);
                out.push_str(if i + 1 == n {
                    ". "
                } else if rng.below(12) == 0 {
                    ", "
                } else {
                    " "
                });
            }
        }
        out.pop();
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out
}

// ---------------------------------------------------------------------------
// The ministry: missions, the people who write, the people who search.

const MISSIONS: [(&str, &str, MissionKind); 8] = [
    ("mfa", "UZ", MissionKind::Ministry),
    ("emb-tokyo", "JP", MissionKind::Embassy),
    ("emb-berlin", "DE", MissionKind::Embassy),
    ("emb-moscow", "RU", MissionKind::Embassy),
    ("emb-washington", "US", MissionKind::Embassy),
    ("emb-beijing", "CN", MissionKind::Embassy),
    ("emb-ankara", "TR", MissionKind::Embassy),
    ("pm-newyork", "US", MissionKind::Embassy),
];
const CAPTIONS: [&str; 3] = ["EXDIS", "LIMDIS", "NODIS"];
const TAGS: [&str; 20] = [
    "PREL", "PGOV", "ECON", "ETRD", "PHUM", "KDEM", "MARR", "ENRG", "SENV", "CASC", "KPAO", "OVIP",
    "PTER", "EINV", "UZ", "JP", "DE", "RU", "US", "CN",
];

/// The reader of mid clearance the issue times queries for.
const MID: (&str, &str, Classification, &[&str]) = (
    "mid-reader",
    "emb-berlin",
    Classification::Confidential,
    &["EXDIS"],
);
/// The reader of top clearance, for comparison.
const TOP: (&str, &str, Classification, &[&str]) = (
    "top-reader",
    "mfa",
    Classification::TopSecret,
    &["EXDIS", "LIMDIS", "NODIS"],
);

fn id(s: &str) -> Id {
    Id::new(s).expect("valid id")
}

/// Signing key of the one writer (drafter, releaser, editor) of mission
/// `m` (an index into [`MISSIONS`]).
fn writer_key(m: usize) -> SigningKey {
    signing_key_from_seed([40 + m as u8; 32])
}

fn trust() -> Trust {
    let mut r = Roster::new("Ministry of Foreign Affairs", [0xca; 32]);
    r.version = 1;
    for (mid, country, kind) in MISSIONS {
        r.add_mission(Mission {
            id: id(mid),
            name: format!("Mission {mid}"),
            country: Country::new(country).expect("country"),
            kind,
        })
        .expect("mission");
    }
    let all_roles = Roles::of(&[Role::Reader, Role::Editor, Role::Drafter, Role::Releaser]);
    let captions = |cs: &[&str]| -> Vec<Caption> {
        cs.iter()
            .map(|c| Caption::new(*c).expect("caption"))
            .collect()
    };
    for (m, (mission, _, _)) in MISSIONS.iter().enumerate() {
        r.add_person(Person {
            id: id(&format!("writer-{mission}")),
            name: format!("Writer of {mission}"),
            mission: id(mission),
            signing_key: PublicKey(writer_key(m).verifying_key().to_bytes()),
            clearance: Classification::TopSecret,
            captions: captions(&CAPTIONS),
            roles: all_roles,
        })
        .expect("writer");
    }
    for (seed, (pid, mission, clearance, caps)) in [(60u8, MID), (61, TOP)] {
        r.add_person(Person {
            id: id(pid),
            name: pid.to_uppercase(),
            mission: id(mission),
            signing_key: PublicKey(signing_key_from_seed([seed; 32]).verifying_key().to_bytes()),
            clearance,
            captions: captions(caps),
            roles: Roles::of(&[Role::Reader]),
        })
        .expect("reader");
    }
    Trust::new(
        PublicKey(signing_key_from_seed([1; 32]).verifying_key().to_bytes()),
        r,
    )
}

fn person(trust: &Trust, pid: &str) -> Person {
    trust
        .roster()
        .person(&id(pid))
        .expect("person in the bench roster")
        .clone()
}

fn describe(p: (&str, &str, Classification, &[&str])) -> String {
    format!("{} ({}, {}, {})", p.0, p.2, p.3.join("+"), p.1)
}

// ---------------------------------------------------------------------------
// Documents.

/// The speeches as signed UNCLASSIFIED wiki pages of the ministry.
fn wiki_pages(speeches: &[(String, String)]) -> Vec<Document> {
    let key = writer_key(0);
    speeches
        .iter()
        .enumerate()
        .map(|(i, (title, body))| {
            let mut page = [0u8; 16];
            page[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let created = T0 + i as u64 * 1000;
            Document::sign(
                &key,
                created,
                Body::WikiRevision(WikiRevision {
                    page: PageId(page),
                    parents: vec![],
                    title: title.clone(),
                    classification: Classification::Unclassified,
                    caption: None,
                    body: body.clone(),
                    summary: "imported".into(),
                }),
            )
            .expect("sign wiki page")
        })
        .collect()
}

/// Cable release number `n`, drawn from `rng` (draft and release signed by
/// the originating mission's writer; only the release is kept).
fn cable(v: &Vocabs, rng: &mut Rng, n: usize) -> Document {
    let origin = if rng.below(10) < 3 {
        0
    } else {
        rng.range(1, MISSIONS.len() - 1)
    };
    let others = |rng: &mut Rng, k: usize, not: &[usize]| -> Vec<usize> {
        let mut out = Vec::new();
        while out.len() < k {
            let m = rng.below(MISSIONS.len());
            if !not.contains(&m) && !out.contains(&m) {
                out.push(m);
            }
        }
        out
    };
    // Embassies report to the ministry (and sometimes a sister mission);
    // the ministry instructs one to three embassies.
    let mut action = if origin == 0 {
        let k = rng.range(1, 3);
        others(rng, k, &[0])
    } else {
        vec![0]
    };
    if origin != 0 && rng.below(5) == 0 {
        action.extend(others(rng, 1, &[0, origin]));
    }
    let mut taken = action.clone();
    taken.push(origin);
    let k = rng.range(0, 2);
    let info = others(rng, k, &taken);
    let ids = |ms: &[usize]| -> Vec<Id> {
        let mut v: Vec<Id> = ms.iter().map(|&m| id(MISSIONS[m].0)).collect();
        v.sort();
        v
    };
    let classification = [
        Classification::Unclassified,
        Classification::Restricted,
        Classification::Confidential,
        Classification::Secret,
        Classification::TopSecret,
    ][rng.weighted(&[30, 25, 25, 15, 5])];
    let caption = match rng.weighted(&[80, 10, 4, 6]) {
        0 => None,
        c => Some(Caption::new(CAPTIONS[c - 1]).expect("caption")),
    };
    let mut tags: Vec<Tag> = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let t = Tag::new(*rng.pick(&TAGS)).expect("tag");
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    tags.sort();
    let lang = v.all()[rng.weighted(&LANGUAGE_WEIGHTS)];
    let mut subject = String::new();
    for i in 0..rng.range(3, 8) {
        if i > 0 {
            subject.push(' ');
        }
        push_word(&mut subject, lang.zipf(rng), i == 0);
    }
    let target = rng.range(1800, 2200);
    let body = cable_text(v, lang, rng, target);
    let c = Cable {
        originator: id(MISSIONS[origin].0),
        action: ids(&action),
        info: ids(&info),
        precedence: Precedence::Routine,
        classification,
        caption,
        tags,
        subject,
        references: vec![],
        body,
    };
    let key = writer_key(origin);
    let created = T0 + n as u64 * 400;
    let draft = Document::sign(&key, created, Body::Cable(c)).expect("sign draft");
    let release = Document::sign(
        &key,
        created + 1,
        Body::CableRelease(CableRelease::new(draft, vec![]).expect("release")),
    )
    .expect("sign release");
    // Decoded again, as a node reads it from its store: buffers of exact
    // size, where signing leaves grown ones (about a tenth less memory).
    Document::decode(release.as_bytes()).expect("decode the release just signed")
}

/// `n` cable releases, generated and signed on every core. Chunk `k` is
/// drawn from seed `SEED + k`, so the set does not depend on the number of
/// threads.
fn cables(v: &Vocabs, n: usize) -> Vec<Document> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks = n.div_ceil(CHUNK);
    let mut parts: Vec<(usize, Vec<Document>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..chunks)
                        .step_by(threads)
                        .map(|k| {
                            let mut rng = Rng::new(SEED + k as u64);
                            let docs = (k * CHUNK..((k + 1) * CHUNK).min(n))
                                .map(|i| cable(v, &mut rng, i))
                                .collect();
                            (k, docs)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("generator thread"))
            .collect()
    });
    parts.sort_by_key(|(k, _)| *k);
    parts.into_iter().flat_map(|(_, docs)| docs).collect()
}

/// (title, body) as the index sees them.
fn text_of(doc: &Document) -> (&str, &str) {
    match doc.body() {
        Body::WikiRevision(w) => (&w.title, &w.body),
        Body::CableRelease(r) => (&r.cable().subject, &r.cable().body),
        _ => ("", ""),
    }
}

fn text_bytes(docs: &[Document]) -> usize {
    docs.iter()
        .map(|d| {
            let (t, b) = text_of(d);
            t.len() + b.len()
        })
        .sum()
}

// ---------------------------------------------------------------------------
// Indexing.

/// chapar's indexing threads (`SearchIndex::assemble`).
fn writer_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
}

fn temp_dir(base: &Path, what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("chapar-bench-{what}-"))
        .tempdir_in(base)
        .unwrap_or_else(|e| panic!("temp dir in {}: {e}", base.display()))
}

/// One timed indexing run: seconds, and segments right after the commit.
struct Run {
    secs: f64,
    segments: usize,
}

/// Plain tantivy: title and body as `TEXT | STORED`, one commit. Waits for
/// merges afterwards (untimed), so they do not slow the next run.
fn index_plain(docs: &[Document], dir: &Path) -> Run {
    let t = Instant::now();
    let mut b = Schema::builder();
    let title = b.add_text_field("title", TEXT | STORED);
    let body = b.add_text_field("body", TEXT | STORED);
    let index = Index::create_in_dir(dir, b.build()).expect("plain index");
    let mut writer: IndexWriter = index
        .writer_with_num_threads(writer_threads(), WRITER_BUDGET)
        .expect("plain writer");
    for d in docs {
        let (t, b) = text_of(d);
        let mut doc = TantivyDocument::new();
        doc.add_text(title, t);
        doc.add_text(body, b);
        writer.add_document(doc).expect("plain add");
    }
    writer.commit().expect("plain commit");
    let secs = t.elapsed().as_secs_f64();
    let segments = index.searchable_segment_ids().map_or(0, |s| s.len());
    writer.wait_merging_threads().expect("plain merges");
    Run { secs, segments }
}

/// chapar: open, add every document, one commit. Closes the index
/// afterwards (untimed), which waits for its merges.
fn index_chapar(docs: &[Document], trust: &Trust, dir: &Path) -> Run {
    let t = Instant::now();
    let (index, _) = SearchIndex::open(dir).expect("chapar index");
    for d in docs {
        index.add(d, trust).expect("chapar add");
    }
    index.commit(b"bench").expect("chapar commit");
    let secs = t.elapsed().as_secs_f64();
    let segments = index.segments();
    eprintln!("  (untimed: waiting for merges)");
    index.close().expect("chapar merges");
    Run { secs, segments }
}

struct Throughput {
    corpus: &'static str,
    docs: usize,
    bytes: usize,
    rounds: usize,
    plain: Run,
    chapar: Run,
}

impl Throughput {
    fn ratio(&self) -> f64 {
        self.plain.secs / self.chapar.secs
    }
    fn json(&self) -> Value {
        let side = |r: &Run| {
            json!({
                "secs": r.secs,
                "docs_per_s": self.docs as f64 / r.secs,
                "mb_per_s": self.bytes as f64 / 1e6 / r.secs,
                "segments": r.segments,
            })
        };
        json!({
            "docs": self.docs,
            "mb": self.bytes as f64 / 1e6,
            "rounds": self.rounds,
            "plain": side(&self.plain),
            "chapar": side(&self.chapar),
            "ratio": self.ratio(),
        })
    }
}

/// Best of `rounds` runs of each, plain and chapar alternating. The last
/// chapar index is kept in `keep` (the others are deleted).
fn throughput(
    corpus: &'static str,
    docs: &[Document],
    trust: &Trust,
    rounds: usize,
    base: &Path,
    keep: &Path,
) -> Throughput {
    let mut best_plain: Option<Run> = None;
    let mut best_chapar: Option<Run> = None;
    let better = |best: &mut Option<Run>, r: Run| {
        if best.as_ref().is_none_or(|b| r.secs < b.secs) {
            *best = Some(r);
        }
    };
    for round in 1..=rounds {
        eprintln!("[{corpus}] round {round}/{rounds}: plain tantivy ...");
        let dir = temp_dir(base, "plain");
        let r = index_plain(docs, dir.path());
        eprintln!("[{corpus}]   plain {:.2} s", r.secs);
        better(&mut best_plain, r);
        drop(dir);
        eprintln!("[{corpus}] round {round}/{rounds}: chapar ...");
        if keep.exists() {
            std::fs::remove_dir_all(keep).expect("remove the previous chapar index");
        }
        let r = index_chapar(docs, trust, keep);
        eprintln!("[{corpus}]   chapar {:.2} s", r.secs);
        better(&mut best_chapar, r);
    }
    Throughput {
        corpus,
        docs: docs.len(),
        bytes: text_bytes(docs),
        rounds,
        plain: best_plain.expect("at least one round"),
        chapar: best_chapar.expect("at least one round"),
    }
}

fn print_throughput(rows: &[&Throughput]) {
    println!();
    println!(
        "1. indexing throughput: open + add every document + one commit (documents pre-signed; \
         {} writer threads, {} MB budget, both); best of the rounds, plain and chapar alternating",
        writer_threads(),
        WRITER_BUDGET >> 20
    );
    println!(
        "{:8} {:>8} {:>7} {:>6} | {:>10} {:>8} {:>4} | {:>10} {:>8} {:>4} | {:>12}",
        "corpus",
        "docs",
        "MB",
        "rounds",
        "plain d/s",
        "MB/s",
        "segs",
        "chapar d/s",
        "MB/s",
        "segs",
        "chapar/plain"
    );
    for t in rows {
        let mb = t.bytes as f64 / 1e6;
        println!(
            "{:8} {:>8} {:>7.1} {:>6} | {:>10.0} {:>8.2} {:>4} | {:>10.0} {:>8.2} {:>4} | {:>12.2}",
            t.corpus,
            t.docs,
            mb,
            t.rounds,
            t.docs as f64 / t.plain.secs,
            mb / t.plain.secs,
            t.plain.segments,
            t.docs as f64 / t.chapar.secs,
            mb / t.chapar.secs,
            t.chapar.segments,
            t.ratio()
        );
    }
    println!("   (target: chapar/plain >= 0.70; segs = segments right after the commit)");
}

/// Where chapar's per-document time goes, each part alone on one thread
/// over the first `n` cables: `entries()` (runs on the caller's thread in
/// `SearchIndex::add`), and the analysis of title and body by chapar's
/// tokenizer and by tantivy's default one (run on the indexing threads).
fn breakdown(docs: &[Document], trust: &Trust) -> Value {
    let n = docs.len();
    let per_doc = |secs: f64| secs * 1e6 / n.max(1) as f64;
    let t = Instant::now();
    for d in docs {
        std::hint::black_box(entries(d, trust));
    }
    let t_entries = t.elapsed().as_secs_f64();
    let tokenize = |analyzer: &mut dyn FnMut(&str) -> usize| {
        let t = Instant::now();
        let mut tokens = 0;
        for d in docs {
            let (title, body) = text_of(d);
            tokens += analyzer(title) + analyzer(body);
        }
        (t.elapsed().as_secs_f64(), tokens)
    };
    // One tokenizer for the whole pass, warm after the first documents,
    // as a segment writer's is.
    let mut chapar = ChaparTokenizer::default();
    let (t_chapar, chapar_tokens) = tokenize(&mut |text| {
        let mut s = chapar.token_stream(text);
        let mut k = 0;
        while s.advance() {
            k += 1;
        }
        k
    });
    let mut default = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build();
    let (t_default, default_tokens) = tokenize(&mut |text| {
        let mut s = default.token_stream(text);
        let mut k = 0;
        while s.advance() {
            k += 1;
        }
        k
    });
    println!();
    println!("   cost breakdown over the first {n} cables, each part alone on one thread:");
    println!(
        "   entries() (caller thread)       {:7.1} us/doc",
        per_doc(t_entries)
    );
    println!(
        "   analysis, chapar tokenizer      {:7.1} us/doc  {:5.0} tokens/doc",
        per_doc(t_chapar),
        chapar_tokens as f64 / n.max(1) as f64
    );
    println!(
        "   analysis, tantivy default       {:7.1} us/doc  {:5.0} tokens/doc",
        per_doc(t_default),
        default_tokens as f64 / n.max(1) as f64
    );
    json!({
        "docs": n,
        "entries_us_per_doc": per_doc(t_entries),
        "chapar_analysis_us_per_doc": per_doc(t_chapar),
        "default_analysis_us_per_doc": per_doc(t_default),
        "chapar_tokens_per_doc": chapar_tokens as f64 / n.max(1) as f64,
        "default_tokens_per_doc": default_tokens as f64 / n.max(1) as f64,
    })
}

// ---------------------------------------------------------------------------
// Queries.

/// Latency percentiles in milliseconds.
struct Latency {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

fn latency(mut v: Vec<Duration>) -> Latency {
    v.sort();
    let at = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1)) - 1;
        v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Latency {
        n: v.len(),
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Query shapes timed, in the order of their rows: one, two and three
/// words of one language (`terms` 1..=3, rows "1 term" .. "3 terms" and
/// "all" over them, as before issue 14), then two shapes of 8 to 15
/// words (issue 14, point 7).
const SHAPES: [&str; 5] = ["1 term", "2 terms", "3 terms", "sentence", "question"];
/// Shape index of the speech sentences and of the asked questions.
const SENTENCE: usize = 3;
const QUESTION: usize = 4;

/// Openings of the questions a desk officer types, mostly stop words.
const OPENINGS: [&str; 12] = [
    "what did our embassies report about",
    "what do we know about",
    "which cables from the last year mention",
    "is there anything on",
    "who reported on the talks about",
    "show me what the ministry was told about",
    "what was said at the meeting on",
    "did any of our missions write about",
    "where can I find the report on",
    "how did the delegation respond to the question of",
    "when did we last hear from them about",
    "what is the position of the government on",
];

/// Sentences of the speeches with at least 8 words, as word lists: the
/// source of the "sentence" queries (real prose, stop words and all).
fn speech_sentences(speeches: &[(String, String)]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (_, text) in speeches {
        for sentence in text.split(['.', '?', '!', '\n', ';', ':']) {
            let words: Vec<String> = sentence
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
                .filter(|w| !w.is_empty())
                .collect();
            if words.len() >= 8 {
                out.push(words);
            }
        }
    }
    assert!(!out.is_empty(), "no sentence of 8 words in corpus/ungd");
    out
}

/// A question of `n` (8..=15) words: an English opening, then words of
/// `lang` drawn as query words are (mixed frequency), joined now and then
/// by one of the language's 20 most frequent words (its stop words).
fn question(lang: &Vocab, rng: &mut Rng, n: usize) -> String {
    let mut words: Vec<&str> = rng.pick(&OPENINGS).split(' ').collect();
    words.truncate(n - 2);
    while words.len() < n {
        if words.len() + 1 < n && rng.below(3) == 0 {
            words.push(&lang.words[rng.below(lang.words.len().min(20))]);
        }
        words.push(lang.query_word(rng));
    }
    words.join(" ")
}

/// `per_terms` queries of each shape of [`SHAPES`]: one, two and three
/// words all in one language (drawn per query), words of mixed frequency;
/// a window of 8 to 15 words of a speech sentence (English); a question of
/// 8 to 15 words (English opening, words of the query's language).
fn queries(
    v: &Vocabs,
    sentences: &[Vec<String>],
    seed: u64,
    per_terms: usize,
) -> Vec<(usize, String)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(SHAPES.len() * per_terms);
    for _ in 0..per_terms {
        for terms in 1..=3 {
            let lang = v.all()[rng.weighted(&QUERY_LANGUAGE_WEIGHTS)];
            let words: Vec<&str> = (0..terms).map(|_| lang.query_word(&mut rng)).collect();
            out.push((terms - 1, words.join(" ")));
        }
    }
    // Drawn from their own stream, so the 1-3-word queries stay the ones
    // timed before issue 14.
    let mut rng = Rng::new(seed ^ 0x0014);
    for _ in 0..per_terms {
        let s = rng.pick(sentences);
        let n = rng.range(8, 15).min(s.len());
        let at = rng.below(s.len() - n + 1);
        out.push((SENTENCE, s[at..at + n].join(" ")));
        let lang = v.all()[rng.weighted(&QUERY_LANGUAGE_WEIGHTS)];
        let n = rng.range(8, 15);
        out.push((QUESTION, question(lang, &mut rng, n)));
    }
    out
}

struct QueryStats {
    size: usize,
    person: String,
    /// Per term count 1, 2, 3, then overall (of those), then the 8-15-word
    /// shapes: label, latency, visible matches summed over the queries,
    /// share of fuzzy second passes (%).
    rows: Vec<(String, Latency, u64, f64)>,
}

/// Times every query as `who`; per query shape: latency, mean visible
/// total, share answered by the typo-tolerant second pass.
fn time_queries(
    index: &SearchIndex,
    qs: &[(usize, String)],
    who: &Person,
    size: usize,
) -> QueryStats {
    let mut by_shape: Vec<Vec<(Duration, u64, bool)>> = vec![Vec::new(); SHAPES.len()];
    for (shape, q) in qs {
        let req = SearchRequest {
            query: q.clone(),
            facets: true,
            ..SearchRequest::default()
        };
        let t = Instant::now();
        let r = index.search(&req, who).expect("search");
        let took = t.elapsed();
        by_shape[*shape].push((took, r.total, r.fuzzy));
    }
    let row = |label: String, v: &[(Duration, u64, bool)]| {
        let n = v.len().max(1) as f64;
        let hits = v.iter().map(|x| x.1).sum::<u64>();
        let fuzzy = v.iter().filter(|x| x.2).count() as f64 / n * 100.0;
        (label, latency(v.iter().map(|x| x.0).collect()), hits, fuzzy)
    };
    let mut rows: Vec<_> = by_shape[..SENTENCE]
        .iter()
        .zip(SHAPES)
        .map(|(v, label)| row(label.into(), v))
        .collect();
    let all: Vec<_> = by_shape[..SENTENCE].concat();
    rows.push(row("all".into(), &all));
    for shape in [SENTENCE, QUESTION] {
        rows.push(row(SHAPES[shape].into(), &by_shape[shape]));
    }
    QueryStats {
        size,
        person: who.id.to_string(),
        rows,
    }
}

fn print_query_stats(stats: &[QueryStats], warmup: usize, per_terms: usize, cables: usize) {
    println!();
    println!(
        "2. query latency through SearchIndex::search (facets on, default limit 10, snippets); \
         {warmup} untimed warm-up queries per index first, then {per_terms} per query shape \
         and reader; wall time per call. The {cables}-cable index is the one of section 1 \
         (reopened after its merges); smaller ones hold the first cables of the same set."
    );
    println!("   readers: {}; {}", describe(MID), describe(TOP));
    println!(
        "{:>9} {:12} {:8} {:>5} | {:>7} {:>7} {:>7} | {:>12} {:>9} {:>6}",
        "entries",
        "reader",
        "query",
        "n",
        "p50 ms",
        "p99 ms",
        "max ms",
        "visible hits",
        "per query",
        "fuzzy%"
    );
    for s in stats {
        for (label, l, hits, fuzzy) in &s.rows {
            println!(
                "{:>9} {:12} {:8} {:>5} | {:>7.2} {:>7.2} {:>7.2} | {:>12} {:>9.0} {:>6.1}",
                s.size,
                s.person,
                label,
                l.n,
                l.p50,
                l.p99,
                l.max,
                hits,
                *hits as f64 / l.n.max(1) as f64,
                fuzzy
            );
        }
    }
    println!(
        "   (targets: p99 < 10 ms at 100000, < 50 ms at 1000000 for the mid reader; visible \
         hits = matches the reader may see, summed over the queries, so the two readers show \
         what the access filter removes; fuzzy% = queries with no exact match, run again \
         typo-tolerant; all = the 1-3-word queries; sentence = 8-15 consecutive words of a \
         speech sentence, question = an English question opening and words of the query's \
         language, 8-15 words; both issue 14: p99 < 10 ms at 100000, < 50 ms at 1000000 for \
         the top reader)"
    );
}

impl QueryStats {
    fn json(&self) -> Value {
        let rows: serde_json::Map<String, Value> = self
            .rows
            .iter()
            .map(|(label, l, hits, fuzzy)| {
                (
                    label.replace(' ', "_"),
                    json!({
                        "n": l.n, "p50_ms": l.p50, "p99_ms": l.p99, "max_ms": l.max,
                        "visible_hits": hits, "fuzzy_pct": fuzzy,
                    }),
                )
            })
            .collect();
        json!({ "entries": self.size, "reader": self.person, "latency": rows })
    }
}

// ---------------------------------------------------------------------------
// Resident memory (section 3): this binary again, in a child process.

/// (name, kB) of the VmRSS, VmHWM, RssAnon and RssFile lines.
fn memory_status() -> Vec<(String, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            if !matches!(name, "VmRSS" | "VmHWM" | "RssAnon" | "RssFile") {
                return None;
            }
            let kb = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some((name.to_string(), kb))
        })
        .collect()
}

/// The child: open the index, run one query, print the memory figures on
/// one line for the parent.
fn rss_probe(dir: &Path) {
    let trust = trust();
    let before = memory_status();
    let t = Instant::now();
    let (index, rebuilt) = SearchIndex::open(dir).expect("open the index");
    assert!(rebuilt.is_none(), "the probe must open the built index");
    let opened = t.elapsed();
    let req = SearchRequest {
        query: "diplomatiya".into(),
        facets: true,
        ..SearchRequest::default()
    };
    let reader = person(&trust, MID.0);
    // The first search of a fresh process builds the per-segment filter
    // and facet caches; the second (another word, same reader) uses them.
    let t = Instant::now();
    let r = index.search(&req, &reader).expect("probe search");
    let first = t.elapsed();
    let after = memory_status();
    let again = SearchRequest {
        query: "hamkorlik".into(),
        ..req
    };
    let t = Instant::now();
    index.search(&again, &reader).expect("probe search");
    let second = t.elapsed();
    let mut line = format!(
        "rss-probe entries={} hits={} open_ms={:.1} first_ms={:.1} second_ms={:.1}",
        index.entries(),
        r.total,
        opened.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        second.as_secs_f64() * 1e3
    );
    for (name, kb) in before {
        let _ = write!(line, " start_{name}={kb}");
    }
    for (name, kb) in after {
        let _ = write!(line, " {name}={kb}");
    }
    println!("{line}");
}

/// Runs the probe in a child process; returns its key=value pairs.
fn rss_of(dir: &Path) -> Vec<(String, String)> {
    let exe = std::env::current_exe().expect("path of this bench binary");
    let out = Command::new(exe)
        .arg("--rss-probe")
        .arg(dir)
        .output()
        .expect("run the rss probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rss probe failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("rss-probe "))
        .unwrap_or_else(|| panic!("rss probe printed no figures: {stdout}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// Trickle (section 4).

/// Filesystem type of the mount holding `path` (longest mount point that
/// is a prefix of it), so the output says whether this was a real disk.
fn filesystem_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, fs) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(point)
                .then(|| (point.len(), fs.to_string()))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, fs)| fs)
}

fn trickle(docs: &[Document], trust: &Trust, n: usize, base: &Path) -> Value {
    let dir = temp_dir(base, "trickle");
    let fs = filesystem_of(dir.path());
    println!();
    println!(
        "4. trickle: {n} single cables into a new index, each followed by a commit, in {} ({fs}){}",
        dir.path().display(),
        if fs == "tmpfs" {
            " -- NOT a real disk, commit times mean little"
        } else {
            ""
        }
    );
    println!(
        "{:>8} {:>9} {:>9} | {:>13} {:>13} {:>13}",
        "commits", "segments", "max segs", "commit p50 ms", "commit p99 ms", "commit max ms"
    );
    let (index, _) = SearchIndex::open(&dir.path().join("search")).expect("trickle index");
    let mut commits = Vec::with_capacity(n);
    let mut max_segments = 0;
    let start = Instant::now();
    let row = |done: usize, segs: usize, max: usize, c: &[Duration]| {
        let l = latency(c.to_vec());
        println!(
            "{:>8} {:>9} {:>9} | {:>13.1} {:>13.1} {:>13.1}",
            done, segs, max, l.p50, l.p99, l.max
        );
    };
    for i in 0..n {
        // Cycles through the generated cables if asked for more; a cable
        // added twice is just a second entry.
        index
            .add(&docs[i % docs.len()], trust)
            .expect("trickle add");
        let t = Instant::now();
        index
            .commit(&(i as u64).to_be_bytes())
            .expect("trickle commit");
        commits.push(t.elapsed());
        max_segments = max_segments.max(index.segments());
        let done = i + 1;
        if done % 100 == 0 {
            eprintln!(
                "[trickle] {done}/{n}, {} segments, {:.0} s",
                index.segments(),
                start.elapsed().as_secs_f64()
            );
        }
        if done % 1000 == 0 && done != n {
            row(done, index.segments(), max_segments, &commits);
        }
    }
    let segments = index.segments();
    row(n, segments, max_segments, &commits);
    println!("   (target: segments < 30)");
    index.close().expect("trickle merges");
    let l = latency(commits);
    json!({
        "commits": n,
        "filesystem": fs,
        "segments_end": segments,
        "segments_max": max_segments,
        "commit_p50_ms": l.p50,
        "commit_p99_ms": l.p99,
        "commit_max_ms": l.max,
    })
}

// ---------------------------------------------------------------------------

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let a = args();
    if let Some(dir) = &a.rss_probe {
        rss_probe(dir);
        return;
    }
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_start = loadavg();
    println!(
        "machine: nproc {nproc}, load average at start {load_start}; cables {}, seed {SEED:#x}",
        a.cables
    );
    let trust = trust();
    let speeches = speeches();
    let v = vocabs(&speeches);
    for voc in v.all() {
        eprintln!("vocabulary {}: {} words", voc.name, voc.words.len());
    }
    let work = temp_dir(&a.dir, "work");

    // 1. Indexing throughput.
    let pages = wiki_pages(&speeches);
    let ungd = throughput(
        "ungd",
        &pages,
        &trust,
        a.rounds,
        &a.dir,
        &work.path().join("ungd"),
    );
    let rss_mb = || {
        memory_status()
            .iter()
            .find(|(k, _)| k == "VmRSS")
            .map_or(0, |(_, kb)| kb >> 10)
    };
    let rss_before = rss_mb();
    eprintln!("generating and signing {} cables ...", a.cables);
    let t = Instant::now();
    let docs = cables(&v, a.cables);
    let envelope_mb = docs.iter().map(|d| d.as_bytes().len()).sum::<usize>() as f64 / 1e6;
    eprintln!(
        "generated and signed {} cables in {:.1} s: {envelope_mb:.0} MB of release envelopes, \
         {} MB more resident (draft, release and decoded text of each)",
        docs.len(),
        t.elapsed().as_secs_f64(),
        rss_mb().saturating_sub(rss_before),
    );
    let full = work.path().join("cables");
    let cable_run = throughput("cables", &docs, &trust, a.cable_rounds, &a.dir, &full);
    print_throughput(&[&ungd, &cable_run]);
    let breakdown = if a.sample > 0 {
        breakdown(&docs[..a.sample.min(docs.len())], &trust)
    } else {
        Value::Null
    };

    // 2. Query latency. The index of all cables is the one built above
    // (after its merges finished); smaller sizes get an index of the first
    // cables of their own, built here (untimed in section 1).
    let mut sizes: Vec<usize> = a.query_sizes.iter().map(|&s| s.min(a.cables)).collect();
    sizes.sort();
    sizes.dedup();
    // --queries 0 skips the section.
    sizes.retain(|&s| s > 0 && a.queries > 0);
    let mid = person(&trust, MID.0);
    let top = person(&trust, TOP.0);
    let sentences = speech_sentences(&speeches);
    let warm = queries(
        &v,
        &sentences,
        SEED ^ 0x5eed,
        a.warmup.div_ceil(SHAPES.len()),
    );
    let timed = queries(&v, &sentences, SEED ^ 0x0001, a.queries);
    for shape in [SENTENCE, QUESTION] {
        for (_, q) in timed.iter().filter(|(s, _)| *s == shape).take(3) {
            eprintln!("[queries] a {} query: {q}", SHAPES[shape]);
        }
    }
    let mut stats = Vec::new();
    for &size in &sizes {
        let dir = if size == a.cables {
            full.clone()
        } else {
            let dir = work.path().join(format!("cables-{size}"));
            eprintln!("[queries] building an index of the first {size} cables ...");
            let r = index_chapar(&docs[..size], &trust, &dir);
            eprintln!("[queries]   built in {:.1} s", r.secs);
            dir
        };
        let (index, rebuilt) = SearchIndex::open(&dir).expect("reopen the index");
        assert!(rebuilt.is_none(), "the built index must reopen as is");
        eprintln!(
            "[queries] {size} cables: {} entries, {} segments; warming up ...",
            index.entries(),
            index.segments()
        );
        for (i, (_, q)) in warm.iter().enumerate() {
            let who = if i % 2 == 0 { &mid } else { &top };
            let req = SearchRequest {
                query: q.clone(),
                facets: true,
                ..SearchRequest::default()
            };
            index.search(&req, who).expect("warm-up search");
        }
        for who in [&mid, &top] {
            eprintln!("[queries] {size} cables: timing as {} ...", who.id);
            stats.push(time_queries(&index, &timed, who, size));
        }
        // Closed before the next step: the probe's SearchIndex::open takes
        // the writer lock.
        index.close().expect("close the index");
    }
    if stats.is_empty() {
        println!();
        println!("2. query latency: skipped (--queries 0)");
    } else {
        print_query_stats(&stats, warm.len(), a.queries, a.cables);
    }

    // 3. Resident memory of a fresh process on the largest index.
    let rss = rss_of(&full);
    let get = |k: &str| rss.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    println!();
    println!(
        "3. resident memory of a new process after SearchIndex::open of the {}-cable index \
         ({} entries) and one query (opened in {} ms; the first query {} ms, which builds \
         the per-segment filter and facet caches, a second one {} ms):",
        a.cables,
        get("entries").unwrap_or("?"),
        get("open_ms").unwrap_or("?"),
        get("first_ms").unwrap_or("?"),
        get("second_ms").unwrap_or("?"),
    );
    let mb = |k: &str| {
        get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .map_or_else(|| "?".into(), |kb| format!("{:.1} MB", kb / 1024.0))
    };
    println!(
        "   VmRSS {}  VmHWM {}  (RssAnon {} = heap; RssFile {} = mapped index files and the \
         binary); at process start VmRSS {}",
        mb("VmRSS"),
        mb("VmHWM"),
        mb("RssAnon"),
        mb("RssFile"),
        mb("start_VmRSS"),
    );
    let rss_json: serde_json::Map<String, Value> = rss
        .iter()
        .map(|(k, v)| {
            let value = v.parse::<f64>().map_or_else(|_| json!(v), |x| json!(x));
            (k.clone(), value)
        })
        .collect();

    // 4. Trickle.
    let trickle_json = if a.trickle > 0 {
        trickle(&docs, &trust, a.trickle, &a.dir)
    } else {
        println!();
        println!("4. trickle: skipped (--trickle 0)");
        Value::Null
    };

    let load_end = loadavg();
    println!();
    println!("machine: load average at end {load_end}");
    if a.json {
        let summary = json!({
            "machine": { "nproc": nproc, "load_start": load_start, "load_end": load_end },
            "indexing": { "ungd": ungd.json(), "cables": cable_run.json() },
            "breakdown": breakdown,
            "queries": stats.iter().map(QueryStats::json).collect::<Vec<_>>(),
            "rss_probe": rss_json,
            "trickle": trickle_json,
        });
        println!("{summary}");
    }
}
