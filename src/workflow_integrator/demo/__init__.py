"""``wi demo``: WI with a SecureChange simulator and a sample ITSM, all on this machine."""
