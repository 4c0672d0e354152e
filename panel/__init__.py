"""The admin panel's Flask and Flask-Admin adapters; `admin.py` assembles them.

Views turn HTTP requests into calls on `services/`; they hold no business rules.
"""
