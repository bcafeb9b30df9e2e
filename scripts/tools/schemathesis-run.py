"""Runs Schemathesis's command line with ast.parse made thread-safe.

CPython 3.11 keeps the AST constructor's recursion depth in state shared by
all threads (fixed in 3.12, gh-106905). When two threads build an AST at
once and a garbage collection switches between them, ast.parse raises
"SystemError: AST constructor recursion depth mismatch". Hypothesis parses
source files to describe lambdas, and `--workers 2` runs two threads, so a
fuzz run failed now and then with that error instead of a finding. One lock
around ast.parse removes the race; nothing else is changed.
"""

import ast
import sys
import threading

if sys.version_info < (3, 12):
    _parse = ast.parse
    _lock = threading.RLock()

    def _locked_parse(*args, **kwargs):
        with _lock:
            return _parse(*args, **kwargs)

    ast.parse = _locked_parse

from schemathesis.cli import schemathesis  # noqa: E402  (after the patch)

if __name__ == "__main__":
    sys.argv[0] = "schemathesis"
    sys.exit(schemathesis())
