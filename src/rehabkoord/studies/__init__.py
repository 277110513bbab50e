"""Study-specific definitions. Each study's module imports only the shared library
(`rehabkoord.io`, `stats`, `disclosure`, `fmt`, `render`, …), never another study."""
