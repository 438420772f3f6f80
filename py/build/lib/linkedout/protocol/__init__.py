"""The op API shared by the worker (which dispatches ops) and the library packages (which implement them)."""
