"""`hpcx status EXECUTION`: where a deployed execution is, read from AWS (collect.py), shown by render.py."""
