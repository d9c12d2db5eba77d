package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ensureSchema returns the schema the store works in and creates it when missing.
//
// With Options.Schema set that is the schema. Without it, it is the schema PostgreSQL
// creates tables in: the first schema of the connection's search_path (from the URL's
// search_path or options parameter, or the role's or database's default), where "$user"
// counts only when a schema of the user's name exists. PostgreSQL skips a search_path
// entry that names no existing schema, so without this a fresh schema in the URL would put
// goose's table nowhere ("relation goose_db_version does not exist") or in the next
// schema of the path; creating it makes the tables, the migration lock and the NOTIFY
// channel all follow the search_path.
func ensureSchema(ctx context.Context, cc *pgx.ConnConfig, schema string) (string, error) {
	conn, err := pgx.ConnectConfig(ctx, setupConfig(cc))
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	exists := func(name string) (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&ok)
		return ok, err
	}
	if schema == "" {
		var path, user string
		if err := conn.QueryRow(ctx, `SELECT current_setting('search_path'), current_user`).Scan(&path, &user); err != nil {
			return "", fmt.Errorf("read search_path: %w", err)
		}
		for _, name := range splitSearchPath(path) {
			if name != "$user" {
				schema = name
				break
			}
			if ok, err := exists(user); err != nil {
				return "", fmt.Errorf("read search_path: %w", err)
			} else if ok {
				schema = user
				break
			}
		}
		if schema == "" {
			return "", fmt.Errorf("search_path %q names no schema to create the tables in", path)
		}
	}
	// CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the database even when the
	// schema exists, so a role that may use public but not create schemas asks first.
	if ok, err := exists(schema); err != nil {
		return "", fmt.Errorf("look up schema %q: %w", schema, err)
	} else if ok {
		return schema, nil
	}
	// Two stores opening at once may race to create it; the loser's error is ignored.
	_, err = conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize())
	if err != nil && !isDuplicate(err) {
		return "", fmt.Errorf("create schema %q: %w", schema, err)
	}
	return schema, nil
}

// splitSearchPath splits a search_path setting into schema names as PostgreSQL reads them:
// comma-separated, unquoted names folded to lower case (ASCII only, as the server does), "quoted" names kept as written
// with "" standing for one quote. A malformed entry ends the list (the server accepted the
// setting, so this does not happen in practice).
func splitSearchPath(path string) []string {
	var names []string
	for rest := strings.TrimSpace(path); rest != ""; {
		var name string
		if rest[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				if rest[i] == '"' {
					if i+1 < len(rest) && rest[i+1] == '"' {
						b.WriteByte('"')
						i++
						continue
					}
					break
				}
				b.WriteByte(rest[i])
			}
			if i >= len(rest) {
				return names
			}
			name, rest = b.String(), rest[i+1:]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			name, rest = asciiLower(strings.TrimSpace(rest[:end])), rest[end:]
		}
		if name != "" {
			names = append(names, name)
		}
		rest = strings.TrimSpace(rest)
		rest = strings.TrimSpace(strings.TrimPrefix(rest, ","))
	}
	return names
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
