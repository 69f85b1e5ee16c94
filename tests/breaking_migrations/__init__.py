"""The articles app's migrations, then one the serving release could not survive.

tests/test_migration_safety.py points MIGRATION_MODULES here: 0001 and 0002
are the app's own (so the test database has them applied), 0003 is pending.
"""
