"""All models, imported here so that Alembic and the application see one metadata."""

from portal.models.applications import (
    Application,
    ApplicationStatus,
    ApplicationSubmission,
    AwardDecision,
    BudgetCategory,
    BudgetLine,
    CriterionScore,
    Eligibility,
    Endorsement,
    Moderation,
    Outcome,
    PlannedHire,
    Review,
    ReviewAssignment,
    StaffPosition,
)
from portal.models.applications import Conflict as ConflictDeclaration
from portal.models.audit import AuditEvent
from portal.models.calls import Call, CallAmendment, CallKind, CallStatus, ExchangeRate, Programme, RubricCriterion
from portal.models.documents import Document
from portal.models.eois import EoiMessage, EoiService, EoiStatus, EoiSubmission, ExpressionOfInterest, MessageKind
from portal.models.grants import AgreementVersion, EntryKind, GrantAgreement, LedgerEntry, Tranche, TrancheStatus
from portal.models.mail import OutboxEmail
from portal.models.orgs import LegalForm, Municipality, Organisation, OrgKind, OrgStatus, Region
from portal.models.reference import HardToEmployCategory, ServiceCategory, ServiceType
from portal.models.users import ROLES_BY_KIND, LoginAttempt, Role, TokenPurpose, User, UserToken

__all__ = [
    "AgreementVersion",
    "EntryKind",
    "GrantAgreement",
    "LedgerEntry",
    "Tranche",
    "TrancheStatus",
    "Application",
    "ApplicationStatus",
    "ApplicationSubmission",
    "AwardDecision",
    "BudgetCategory",
    "BudgetLine",
    "ConflictDeclaration",
    "CriterionScore",
    "Eligibility",
    "Endorsement",
    "Moderation",
    "Outcome",
    "PlannedHire",
    "Review",
    "ReviewAssignment",
    "StaffPosition",
    "AuditEvent",
    "Call",
    "CallAmendment",
    "CallKind",
    "CallStatus",
    "ExchangeRate",
    "Programme",
    "RubricCriterion",
    "Document",
    "EoiMessage",
    "EoiService",
    "EoiStatus",
    "EoiSubmission",
    "ExpressionOfInterest",
    "MessageKind",
    "HardToEmployCategory",
    "LegalForm",
    "LoginAttempt",
    "Municipality",
    "OrgKind",
    "OrgStatus",
    "Organisation",
    "OutboxEmail",
    "ROLES_BY_KIND",
    "Region",
    "Role",
    "ServiceCategory",
    "ServiceType",
    "TokenPurpose",
    "User",
    "UserToken",
]
