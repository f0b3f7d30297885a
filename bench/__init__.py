"""WI's benchmark harness: `python -m bench` prints a table of measured figures."""
