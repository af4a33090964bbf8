"""The embedded stack behind `tacit up` / `tacit down`: the process supervisor, the Argilla bootstrap
(migrations, users, webhook) and the generated secrets."""
