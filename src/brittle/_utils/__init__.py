"""Small shared helpers: seeding, devices, atomic writes, progress bars, statistics."""
