"""`python -m {{ cookiecutter.package_name }}`: the one start command (serving/start.py has what it does)."""

from .serving.start import main

main()
