-- cockpit_lost_item fails the statement that calls it with SQLSTATE CK410, which the store
-- maps to store.ErrLostItem. The item outcomes of a group commit are written by one
-- statement sent with the transaction's next round trip (like the instance changes,
-- cockpit_conflict): it calls this for an outcome whose item was not pending under the
-- writer's lock, so the transaction fails and its commands are run again one by one.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION cockpit_lost_item(operation_id text, seq integer) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'item % of operation % is no longer held', seq, operation_id USING ERRCODE = 'CK410';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION cockpit_lost_item(text, integer);
