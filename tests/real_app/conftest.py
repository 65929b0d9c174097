"""The notes app is copied into a bake by test_real_app.py; it is not collected here.

(This folder is a package, so this conftest is `real_app.conftest` and does not
replace tests/conftest.py, which test modules import as `conftest`.)
"""

collect_ignore = ["src", "tests"]
