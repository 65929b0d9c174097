"""{{ cookiecutter.description }}"""

# The one place the version lives: pyproject.toml reads it, /health reports it.
__version__ = "{{ cookiecutter.version }}"
