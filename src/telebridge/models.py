"""Every domain's models, imported once so the metadata (and Alembic) sees all tables."""

from telebridge.auscultation import models as auscultation_models  # noqa: F401
from telebridge.calls import models as calls_models  # noqa: F401
from telebridge.consultations import models as consultations_models  # noqa: F401
from telebridge.files import models as files_models  # noqa: F401
from telebridge.identity import models as identity_models  # noqa: F401
from telebridge.imaging import models as imaging_models  # noqa: F401
from telebridge.kit import audit  # noqa: F401
from telebridge.kit.db import Base
from telebridge.messaging import models as messaging_models  # noqa: F401
from telebridge.network import models as network_models  # noqa: F401
from telebridge.patients import models as patients_models  # noqa: F401

metadata = Base.metadata
