"""A lab of its own: its daemons end with this folder (see ../__init__.py)."""
