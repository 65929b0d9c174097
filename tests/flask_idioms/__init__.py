# A package only so that conftest.py here imports as flask_idioms.conftest (see there).
