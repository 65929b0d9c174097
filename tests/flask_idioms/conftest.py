"""The sample app is copied into a bake by test_flask_idioms.py; it is not collected here.

(This folder is a package, so this conftest is `flask_idioms.conftest` and does not
replace tests/conftest.py, which test modules import as `conftest`.)
"""

collect_ignore = ["src", "tests", "migrations"]
