"""The {{ cookiecutter.project_slug }} service; create_app() is in app.py.

The description lives in pyproject.toml, not here: free text in a docstring would
meet the linter's rules on look-alike Unicode characters.
"""

# The one place the version lives: pyproject.toml reads it, /health reports it.
__version__ = "{{ cookiecutter.version }}"
