-- Variable scopes.
--
-- A variable belongs to a scope of its instance: the process ("") or a token whose
-- element has a scope of its own (an embedded subprocess, a multi-instance body or one
-- of its inner instances, a task with input mappings); scope is that token's id. The
-- same name may be held by several scopes at once (a local input shadows the process
-- variable of that name), so the key becomes (instance_id, scope, name). The engine
-- deletes a scope's variables when the scope ends. SQLite cannot change the key of a
-- WITHOUT ROWID table, so the table is made again.

-- +goose Up
CREATE TABLE variables_scoped (
    instance_id TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, scope, name)
) WITHOUT ROWID;
INSERT INTO variables_scoped (instance_id, scope, name, type, value, updated_at)
    SELECT instance_id, '', name, type, value, updated_at FROM variables;
DROP TABLE variables;
ALTER TABLE variables_scoped RENAME TO variables;
-- "Variable equals": value is compacted JSON text, compared as text.
CREATE INDEX variables_value ON variables (name, value);

-- +goose Down
CREATE TABLE variables_unscoped (
    instance_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, name)
) WITHOUT ROWID;
INSERT INTO variables_unscoped (instance_id, name, type, value, updated_at)
    SELECT instance_id, name, type, value, updated_at FROM variables WHERE scope = '';
DROP TABLE variables;
ALTER TABLE variables_unscoped RENAME TO variables;
CREATE INDEX variables_value ON variables (name, value);
