"""The web dashboard: a static single-page app at `/` that calls only the public API."""
