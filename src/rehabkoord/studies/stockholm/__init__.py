"""The Stockholm-type evaluation: coordinator support in primary care, outcomes from sick-leave
spells (MiDAS): time to return, full return, re-sick-listing, and who benefits."""
