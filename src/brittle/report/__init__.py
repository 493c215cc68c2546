"""Faces that only read results: figures now, the HTML report later."""
