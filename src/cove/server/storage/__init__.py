"""Storage: bare git repos, the sha256 blob store and the Xet chunk store. Only services use it (an
import-linter contract keeps routes out); it never imports the database (the push hook's entry point,
:func:`cove.server.storage.receive.main`, runs as its own process and is the one exception)."""
