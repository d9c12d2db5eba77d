// Package sql holds the database migrations, numbered per dialect under <dialect>/ in goose
// format (-- +goose Up / -- +goose Down), and embeds them in the binary.
//
// Only the SQLite dialect exists so far; the PostgreSQL store adds postgres/ and extends the
// embed pattern (an embed pattern that matches no file is a compile error).
package sql

import "embed"

// FS holds the migrations: sqlite/00001_init.sql and so on.
//
//go:embed sqlite/*.sql
var FS embed.FS
