"""Local servers that speak the vendors' documented wire formats, scriptable from tests."""
