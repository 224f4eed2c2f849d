__version__ = "0.1.0"
SCHEMA_VERSION = 3
#: explanation files this version reads (1: no per-output matrix; 2: no uncertainty)
READABLE_SCHEMAS = (1, 2, 3)
