"""The schema, one module per capability; import it from models (models.py re-exports every
table and value, and binds the database)."""
