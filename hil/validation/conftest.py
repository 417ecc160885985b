"""pytest wiring of the bench validation suites (see plugin.py); ``rbench validate`` runs them."""
pytest_plugins = ["hil.validation.plugin"]
