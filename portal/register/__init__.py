"""The pseudonymised service-user register (issue 16)."""
