"""Grievance redress (issue 17): public intake, handling by the ministry, answers from providers and
municipalities, and the figures."""
