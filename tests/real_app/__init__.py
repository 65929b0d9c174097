# A package only so that conftest.py here imports as real_app.conftest (see there).
