"""Sphinx configuration for salt-vpkg."""

project = "salt-vpkg"
author = "salt-vpkg developers"
# autodoc imports the pip-installed saltext.vpkg.* (make docs installs it first): docs/ref/api.md.
extensions = ["myst_parser", "sphinx.ext.autodoc"]
autodoc_default_options = {"members": True, "member-order": "bysource"}
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
