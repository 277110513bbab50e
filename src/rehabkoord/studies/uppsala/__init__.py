"""The Uppsala register study: rehabilitation coordinator in specialist psychiatry, outcomes from LISA and BAS."""
