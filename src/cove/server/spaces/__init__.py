"""The Space runner: build each Space (venvs shared by Spaces with the same requirements, one shared
wheelhouse), run its app as its own sandboxed process with limits, put it to sleep when idle, and proxy
requests to it under ``/-/spaces/{ns}/{name}/`` (docs/spaces.md)."""
