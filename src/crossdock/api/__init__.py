"""The HTTP service: ``create_app(settings)`` builds the FastAPI app with the /search hot path."""
