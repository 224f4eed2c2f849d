__version__ = "0.1.0"
SCHEMA_VERSION = 2
#: explanation files this version reads (1: no per-output matrix)
READABLE_SCHEMAS = (1, 2)
