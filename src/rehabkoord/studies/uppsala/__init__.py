"""The Uppsala register study: a rehabilitation coordinator in specialist psychiatry,
outcomes from LISA and BAS."""
