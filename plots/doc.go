// Package plots draws natsim's figures from results files: the trade-off
// curve, survival heat map and presence figure of a sweep, and the latency
// CDF, device timeline, energy breakdown, server view, strategy
// convergence and apps energy (per push connection) of a run.
//
// It reads the files the harness writes (summary.json, devices.csv,
// events.jsonl, timeseries.csv, sweep.csv, sweep_summary.csv; the contract
// is docs/results.md, schema_version 1), never the harness's types, so the
// dependency points one way: harness -> plots. Render looks at a directory
// and draws every figure that applies; one function per figure builds a
// Figure from parsed data for callers that want only one.
//
// Output is deterministic: the same results give byte-identical PNG, SVG
// and PDF files. Fonts are the Liberation fonts gonum/plot embeds in the
// binary (SVG and PDF embed them in the file), so no system font is read.
// Colours are the Okabe-Ito palette, paired with distinct dash patterns and
// markers so that series stay apart in greyscale and for colour-blind
// readers.
package plots
