"""Every domain's models, imported once so the metadata (and Alembic) sees all tables."""

from telebridge.identity import models as identity_models  # noqa: F401
from telebridge.kit import audit  # noqa: F401
from telebridge.kit.db import Base
from telebridge.network import models as network_models  # noqa: F401
from telebridge.patients import models as patients_models  # noqa: F401

metadata = Base.metadata
