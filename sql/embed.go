// Package sql holds the database migrations, numbered per dialect under <dialect>/ in goose
// format (-- +goose Up / -- +goose Down), and embeds them in the binary.
//
// Two dialects: sqlite/ (the embedded store) and postgres/ (the shared store). An embed
// pattern that matches no file is a compile error, so a new dialect extends the pattern
// together with its first migration.
package sql

import "embed"

// FS holds the migrations: sqlite/00001_init.sql, postgres/00001_init.sql and so on.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS
