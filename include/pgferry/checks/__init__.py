"""Precheck: every check runs; blocking findings are reported together before the target is touched."""
