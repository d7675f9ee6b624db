"""The backend contract suite's subjects: every backend type with its fake (see subjects.py)."""
