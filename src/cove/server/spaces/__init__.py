"""The Space runner: build each Space (a venv per Space, a shared pip cache), run its app as its own
sandboxed process with limits, put it to sleep when idle, and proxy requests to it under
``/-/spaces/{ns}/{name}/`` (docs/spaces.md)."""
