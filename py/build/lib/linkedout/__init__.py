"""LinkedOut: world-knowledge representations linked out of a video LLM for recommendation."""

__version__ = "0.1.0"
