"""Audit sections: each ``run(ctx) -> dict`` fills one entry of ``results.json``'s sections."""
