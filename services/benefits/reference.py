"""The benefits service's reference data, loaded once per process."""
from services.benefits.domain import REFERENCE_FILE
from shared.reference import ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
