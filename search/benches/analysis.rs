//! Tokenization and indexing throughput of the chapar analysis chain against
//! tantivy's default analyzer, measured in one run so that the ratios are
//! meaningful on a noisy machine.
//!
//! Corpus: the English UN General Debate speeches and the parallel Uzbek
//! fixture (Latin and Cyrillic) of the repository's `corpus/` (about
//! 2.5 MB).
//!
//! `cargo bench -p chapar-search --bench analysis`
//!
//! "cold" starts each round with a new tokenizer, so the stem cache starts
//! empty and every distinct word costs one Snowball call (as for the first
//! segment after a node opens its index); "warm" clones a tokenizer whose
//! cache pool was filled by an earlier round (as for later segments).

use std::path::{Path, PathBuf};
use std::time::Instant;

use chapar_search::analysis::{self, ChaparTokenizer};
use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

const ROUNDS: usize = 7;
const INDEX_ROUNDS: usize = 5;

fn load_corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("ungd"))
        .expect("corpus/ungd: see corpus/README.md")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    paths.push(dir.join("uzbek/axborot-almashinuvi-latin.txt"));
    paths.push(dir.join("uzbek/axborot-almashinuvi-cyrillic.txt"));
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("corpus file"))
        .collect()
}

/// tantivy's "default" analyzer, as `TokenizerManager::default` builds it.
fn default_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

/// Tokenizes every text once; returns the number of tokens.
fn tokenize_all(mut analyzer: TextAnalyzer, texts: &[String]) -> usize {
    let mut tokens = 0;
    for text in texts {
        let mut stream = analyzer.token_stream(text);
        while let Some(token) = stream.next() {
            tokens += 1;
            std::hint::black_box(&token.text);
        }
    }
    tokens
}

/// Seconds `f` takes.
fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Indexes every text as one document of one TEXT field (positions
/// recorded) in a RAM index with one indexing thread, and commits.
/// `chapar`: the tokenizer registered as "chapar" (the field uses it), or
/// None for tantivy's default.
fn index_all(chapar: Option<ChaparTokenizer>, texts: &[String]) {
    let mut schema = Schema::builder();
    let tokenizer = if chapar.is_some() {
        analysis::TOKENIZER
    } else {
        "default"
    };
    let body = schema.add_text_field(
        "body",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let index = Index::create_in_ram(schema.build());
    if let Some(chapar) = chapar {
        index.tokenizers().register(analysis::TOKENIZER, chapar);
    }
    let mut writer = index
        .writer_with_num_threads::<TantivyDocument>(1, 100_000_000)
        .expect("index writer");
    for text in texts {
        let mut doc = TantivyDocument::default();
        doc.add_text(body, text);
        writer.add_document(doc).expect("add document");
    }
    writer.commit().expect("commit");
}

fn main() {
    let texts = load_corpus();
    let mb = texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let shared = ChaparTokenizer::default();

    let default_tokens = tokenize_all(default_analyzer(), &texts);
    let chapar_tokens = tokenize_all(TextAnalyzer::from(shared.clone()), &texts);
    let stems: usize = texts
        .iter()
        .flat_map(|text| analysis::analyze(text))
        .map(|word| word.stems.len())
        .sum();

    // Interleaved, best of each, so that all see the same machine state.
    let (mut t_default, mut t_cold, mut t_warm) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        t_default = t_default.min(time(|| {
            tokenize_all(default_analyzer(), &texts);
        }));
        t_cold = t_cold.min(time(|| {
            tokenize_all(TextAnalyzer::from(ChaparTokenizer::default()), &texts);
        }));
        t_warm = t_warm.min(time(|| {
            tokenize_all(TextAnalyzer::from(shared.clone()), &texts);
        }));
    }
    let (mut i_default, mut i_cold, mut i_warm) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    for _ in 0..INDEX_ROUNDS {
        i_default = i_default.min(time(|| index_all(None, &texts)));
        i_cold = i_cold.min(time(|| {
            index_all(Some(ChaparTokenizer::default()), &texts);
        }));
        i_warm = i_warm.min(time(|| index_all(Some(shared.clone()), &texts)));
    }

    println!(
        "corpus: {} texts, {mb:.2} MB; best of {ROUNDS} rounds (tokenize), {INDEX_ROUNDS} (index)",
        texts.len()
    );
    println!(
        "tokens: default {default_tokens}; chapar {chapar_tokens} ({} words + {stems} stems)",
        chapar_tokens - stems
    );
    let tokenize = |name: &str, t: f64, tokens: usize| {
        println!(
            "tokenize {name:13} {:6.1} MB/s {:6.2} M tokens/s  ratio {:.2}",
            mb / t,
            tokens as f64 / t / 1e6,
            t_default / t
        );
    };
    tokenize("default", t_default, default_tokens);
    tokenize("chapar cold", t_cold, chapar_tokens);
    tokenize("chapar warm", t_warm, chapar_tokens);
    let index = |name: &str, t: f64| {
        println!(
            "index    {name:13} {:6.1} MB/s {:6.0} ms        ratio {:.2}",
            mb / t,
            t * 1e3,
            i_default / t
        );
    };
    index("default", i_default);
    index("chapar cold", i_cold);
    index("chapar warm", i_warm);
}
