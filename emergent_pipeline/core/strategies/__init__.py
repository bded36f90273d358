"""The ten rule-based strategies of the domain spec, one module each, and their registry."""
