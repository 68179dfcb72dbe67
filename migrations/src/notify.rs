//! Triggers that announce changes to other processes on PostgreSQL with `NOTIFY`.

/// Returns the statement that creates the trigger function `function`, which sends the changed
/// row's `workspace_id` on `channel` after an insert, update or delete.
pub(crate) fn create_function(function: &str, channel: &str) -> String {
    format!(
        r#"
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
DECLARE
    workspace uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        workspace := OLD.workspace_id;
    ELSE
        workspace := NEW.workspace_id;
    END IF;
    PERFORM pg_notify('{channel}', workspace::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql"#
    )
}

/// Returns the statement that runs `function` after every row change of `table`.
pub(crate) fn create_trigger(table: &str, function: &str) -> String {
    format!(
        "CREATE TRIGGER {table}_notify_changed \
         AFTER INSERT OR UPDATE OR DELETE ON {table} \
         FOR EACH ROW EXECUTE FUNCTION {function}()"
    )
}
