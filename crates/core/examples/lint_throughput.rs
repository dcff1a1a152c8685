//! Throughput of `split` + `lint` on a large generated migration file.
//!
//! `cargo run --release -p stratum-core --example lint_throughput [MB] [split|lint]`
//! generates about MB megabytes (default 16) of realistic migration SQL
//! and prints MB/s for each step, or only for the one named (to count one
//! step's instructions under callgrind). Given `.sql` paths instead, it
//! lints them and prints the diagnostics: a quick way to try the rules.
//! `bench/lint.js` writes the same SQL, byte for byte, and times the
//! addon's `lint()` over it.

use std::time::Instant;

use stratum_core::lint::{LintContext, lint};
use stratum_core::statements::split;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg.ends_with(".sql")) {
        for path in &args {
            let sql = std::fs::read_to_string(path).expect("readable UTF-8 file");
            for diagnostic in lint(path, &sql, &LintContext::default()) {
                println!("{diagnostic}");
            }
        }
        return;
    }
    let megabytes: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(16);
    let runs = |step: &str| {
        let named = args.iter().any(|arg| arg == "split" || arg == "lint");
        !named || args.iter().any(|arg| arg == step)
    };
    let sql = generate(megabytes * 1_000_000);
    let mb = sql.len() as f64 / 1e6;
    println!("generated {mb:.1} MB");
    if !runs("split") {
        lint_step(&sql);
        return;
    }

    let started = Instant::now();
    let statements = split(&sql);
    let split_time = started.elapsed().as_secs_f64();
    println!(
        "split: {} statements in {split_time:.2} s = {:.1} MB/s",
        statements.len(),
        mb / split_time
    );

    if !runs("lint") {
        return;
    }
    let lint_time = lint_step(&sql);
    println!(
        "split + lint: {:.2} s = {:.1} MB/s",
        split_time + lint_time,
        mb / (split_time + lint_time)
    );
}

/// Lints `sql`, prints the rate, and returns the seconds it took.
fn lint_step(sql: &str) -> f64 {
    let started = Instant::now();
    let diagnostics = lint("001_big.sql", sql, &LintContext::default());
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "lint: {} diagnostics in {seconds:.2} s = {:.1} MB/s",
        diagnostics.len(),
        sql.len() as f64 / 1e6 / seconds
    );
    seconds
}

/// Migration SQL of the usual shapes: tables, indexes, columns, functions
/// with dollar-quoted bodies, DO blocks, seed rows, comments, and a few
/// statements that the rules report.
fn generate(target: usize) -> String {
    let mut sql = String::with_capacity(target + 4096);
    let mut i = 0usize;
    while sql.len() < target {
        sql.push_str(&format!(
            "-- Table {i}: accounts and their history\n\
             CREATE TABLE IF NOT EXISTS accounts_{i} (\n\
             \x20   id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n\
             \x20   email text NOT NULL CHECK (email LIKE '%@%'),\n\
             \x20   name text NOT NULL DEFAULT '',\n\
             \x20   balance numeric(12, 2) NOT NULL DEFAULT 0,\n\
             \x20   created_at timestamptz NOT NULL DEFAULT now()\n\
             );\n\
             CREATE UNIQUE INDEX IF NOT EXISTS accounts_{i}_email ON accounts_{i} (lower(email));\n\
             ALTER TABLE accounts_{i} ADD COLUMN IF NOT EXISTS note text;\n\
             /* seed rows; the ';' in here must not split */\n\
             INSERT INTO accounts_{i} (email, name) VALUES\n\
             \x20   ('a{i}@example.com', E'O\\'Brien; Jr.'),\n\
             \x20   ('b{i}@example.com', 'it''s; fine')\n\
             ON CONFLICT DO NOTHING;\n\
             CREATE OR REPLACE FUNCTION touch_{i}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n\
             BEGIN\n\
             \x20   NEW.created_at := now(); -- VACUUM; COMMIT;\n\
             \x20   RETURN NEW;\n\
             END;\n\
             $fn$;\n\
             DO $$ BEGIN\n\
             \x20   IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'state_{i}') THEN\n\
             \x20       CREATE TYPE state_{i} AS ENUM ('open', 'closed');\n\
             \x20   END IF;\n\
             END $$;\n\
             UPDATE accounts_{i} SET name = upper(name) WHERE name <> '' AND balance > 0;\n\
             ALTER TABLE orders ADD COLUMN IF NOT EXISTS account_{i} bigint NOT NULL;\n\
             DROP INDEX old_index_{i};\n\n"
        ));
        i += 1;
    }
    sql
}
