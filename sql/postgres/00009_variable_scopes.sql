-- Variable scopes.
--
-- A variable belongs to a scope of its instance: the process ("") or a token whose
-- element has a scope of its own (an embedded subprocess, a multi-instance body or one
-- of its inner instances, a task with input mappings); scope is that token's id. The
-- same name may be held by several scopes at once (a local input shadows the process
-- variable of that name), so the key becomes (instance_id, scope, name). The engine
-- deletes a scope's variables when the scope ends. The "variable equals" filter
-- (variables_value_md5, on name and value) is unchanged.

-- +goose Up
ALTER TABLE variables ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE variables DROP CONSTRAINT variables_pkey;
ALTER TABLE variables ADD PRIMARY KEY (instance_id, scope, name);

-- +goose Down
DELETE FROM variables WHERE scope <> '';
ALTER TABLE variables DROP CONSTRAINT variables_pkey;
ALTER TABLE variables ADD PRIMARY KEY (instance_id, name);
ALTER TABLE variables DROP COLUMN scope;
